"""Money: one package that every paying purpose (orders, later donations and top-ups) goes through.

A *purpose* (``"order"``, ``"donation"`` ...) asks `payments.attempts.start`
for a payment of an amount in integer minor units for one of its objects
(``ref``) and registers, once at assembly, what happens when the money has
come, failed or gone back (`payments.registry.Payments.register`).  This
package never reads the objects it is paid for.

- `model`       the attempt document, states, methods, money in minor units
- `states`      the attempt's one transition table, guarded moves
- `providers`   the provider interface; `card` (Stripe PaymentIntents) and `invoices` implement it
- `attempts`    start, refund, and settling what a provider reports (once per fact)
- `webhooks`    signed provider notifications: verified, stored once, applied
- `ledger`      every charge and refund as an entry in minor units
- `legal`       organisation details per country (INN, KPP, OGRN, BIK, BIN, IBAN ...) checked
- `seller`      a space's legal details, printed on its invoices
- `invoices`    numbered PDF invoices for legal entities, marked paid by staff
- `reconcile`   pending card attempts whose notification never came, asked of the provider
- `reads`       what staff pages list and export
"""
