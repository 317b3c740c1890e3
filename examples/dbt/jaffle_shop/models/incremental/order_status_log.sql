{{
    config(
        incremental_strategy='merge',
    )
}}

-- Append-only log: dbt-bigquery has no 'append' strategy; 'merge' without a
-- unique_key compiles to `merge ... on (FALSE) when not matched then insert`,
-- i.e. a pure append. Each run adds one row per order status.
select
    '{{ invocation_id }}' as invocation_id,
    status,
    count(*) as order_count
from {{ ref('stg_orders') }}
group by status
