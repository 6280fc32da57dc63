"""Use cases: the rules of each resource and the one function per change, above the store.

Routes parse and serialise; these check visibility and rules, call the store (which
answers in domain terms and raises only its own errors) and raise the API's errors.
Nothing here imports PynamoDB, and every "now" comes from a ``clock`` passed in.
"""
