"""``make bench``: what a request costs (AWS calls, cold start, invoicing, delivery), measured."""
