"""Deployment: the merge template ``chalice package`` needs, generated from the single sources.

Chalice builds the functions, the REST API and the authorizer from ``app.py``; everything
else the code relies on (tables from the PynamoDB models, the webhook queues, the gateway
responses, the one least-privilege role, the stage's environment) is generated here,
never kept by hand, so the deployed stack cannot drift from the code. No request path
imports this package; it ships in the Lambda zip only because ``chalicelib/`` does.
"""
