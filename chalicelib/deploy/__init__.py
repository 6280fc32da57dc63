"""Deployment: the merge template ``chalice package`` needs, generated from the single sources.

Chalice builds the functions, the REST API and the authorizer from ``app.py``; everything
else the code relies on (tables from the PynamoDB models, the queues, the gateway
responses, one least-privilege role per function, the stage's environment, the alarms and
the dashboard) is generated here, never kept by hand, so the deployed stack cannot drift
from the code. No function imports this package: ``make package`` leaves it out of the
Lambda zip (:data:`chalicelib.deploy.package.DEV_ONLY_PACKAGES`).
"""
