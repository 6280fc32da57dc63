"""The OpenAPI document of the public API and the docs page that explores it.

The document is generated from the code on first request (see :mod:`.document` for why
it is generated rather than hand-kept): the route table from ``app.routes``, request
bodies from :mod:`chalicelib.domain.schemas`, responses from the schemas kept next to
each serializer in :mod:`chalicelib.api`, and the words from :mod:`.operations`.
"""
