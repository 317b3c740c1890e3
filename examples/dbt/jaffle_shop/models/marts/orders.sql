{{
    config(
        pre_hook="create table if not exists `{{ target.project }}`.`{{ target.schema }}`.`dbt_audit_log` (model string, event string, invocation_id string)",
        post_hook="insert into `{{ target.project }}`.`{{ target.schema }}`.`dbt_audit_log` (model, event, invocation_id) values ('{{ this.identifier }}', 'built', '{{ invocation_id }}')",
    )
}}

select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    p.credit_card_amount,
    p.coupon_amount,
    p.bank_transfer_amount,
    p.gift_card_amount,
    coalesce(p.total_amount, 0) as amount
from {{ ref('stg_orders') }} as o
left join {{ ref('int_order_payments') }} as p
    on o.order_id = p.order_id
