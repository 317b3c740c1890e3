{{
    config(
        incremental_strategy='merge',
        unique_key='order_id',
    )
}}

-- Run 1 (table absent): `create or replace table ... as` with every order
-- updated before var('orders_updated_before').
-- Run 2+: MERGE on order_id of the orders updated within 3 days of the newest
-- row already loaded (lookback window). With the default var, run 2 updates the
-- 2 most recent orders; after a run 1 with orders_updated_before: "2018-02-15"
-- (21 rows) run 2 merges 21 rows: 2 updated + 19 inserted -> 40.
select
    order_id,
    customer_id,
    order_date,
    status,
    updated_at
from {{ ref('stg_orders') }}
where updated_at < timestamp('{{ var("orders_updated_before") }}')
{% if is_incremental() %}
  and updated_at >= (
      select timestamp_sub(max(updated_at), interval 3 day) from {{ this }}
  )
{% endif %}
