-- Singular test: the per-method amounts of an order add up to its total.
select order_id, amount
from {{ ref('orders') }}
where amount != coalesce(credit_card_amount, 0) + coalesce(coupon_amount, 0)
    + coalesce(bank_transfer_amount, 0) + coalesce(gift_card_amount, 0)
