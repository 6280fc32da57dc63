"""The Chalice app: the authorizer, one blueprint per resource, the 405s and the webhook deliverer."""
from chalice import Chalice
from chalice.app import SQSEvent

from chalicelib import observability
from chalicelib.api import clients, docs, invoices, me, projects, routing, sessions, webhooks
from chalicelib.auth.authorizer import auth
from chalicelib.events import bus
from chalicelib.lazy import LazyModule

API_PREFIX = "/api/v1"
# The event source's queue is wired to the stage's queue by the deployment template;
# this name is only the placeholder `chalice package` needs at import time.
WEBHOOK_QUEUE = "temporalist-webhooks"

# Chalice would print app.log in its own text format; its records go to the JSON root logger.
app = Chalice(app_name="temporalist", configure_logs=False)
observability.install(app)  # one JSON line per API request
app.register_blueprint(auth)
for blueprint in (me.me, projects.projects, sessions.sessions, clients.clients,
                  invoices.invoices, webhooks.webhooks, docs.docs):
    app.register_blueprint(blueprint, url_prefix=API_PREFIX)
routing.install_method_routes(app)
fanout = LazyModule("chalicelib.events.fanout")  # loaded by the first change that fires an event
bus.add_publisher(lambda change: fanout.publish(change))


@app.on_sqs_message(queue=WEBHOOK_QUEUE, batch_size=10)
def deliver_webhooks(event: SQSEvent) -> dict:
    """One signed POST per message; failed records reported for a partial-batch retry."""
    from chalicelib.events import delivery  # only the delivery function pays for its imports
    records = [(record.to_dict()["messageId"], record.body) for record in event]
    return delivery.Deliverer().deliver_batch(records)
