-- ephemeral: inlined as a CTE into the models that ref it
{% set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}

select
    order_id,
    {% for payment_method in payment_methods -%}
    sum(case when payment_method = '{{ payment_method }}' then amount else 0 end) as {{ payment_method }}_amount,
    {% endfor -%}
    sum(amount) as total_amount,
    count(*) as payment_count
from {{ ref('stg_payments') }}
group by order_id
