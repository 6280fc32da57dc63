"""The Chalice app: the authorizer, one blueprint per resource, the 405s, the events fan-out
and the webhook deliverer."""
from chalice import Chalice
from chalice.app import DynamoDBEvent, SQSEvent

from chalicelib import observability
from chalicelib.api import clients, docs, invoices, me, projects, routing, sessions, webhooks
from chalicelib.auth.authorizer import auth
from chalicelib.events.queue import DELIVERY_BATCH_SIZE, STREAM_BATCH_SIZE

API_PREFIX = "/api/v1"
# The event sources are wired to the stage's queue and tables' streams by the deployment
# template; these are only the placeholders `chalice package` needs at import time.
WEBHOOK_QUEUE = "temporalist-webhooks"
EVENT_STREAM = ("arn:aws:dynamodb:us-east-1:000000000000:table/temporalist-events"
                "/stream/set-by-the-merge-template")

# Chalice would print app.log in its own text format; its records go to the JSON root logger.
app = Chalice(app_name="temporalist", configure_logs=False)
observability.install(app)  # one JSON line per API request
app.register_blueprint(auth)
for blueprint in (me.me, projects.projects, sessions.sessions, clients.clients,
                  invoices.invoices, webhooks.webhooks, docs.docs):
    app.register_blueprint(blueprint, url_prefix=API_PREFIX)
routing.install_method_routes(app)


@app.on_dynamodb_record(stream_arn=EVENT_STREAM, batch_size=STREAM_BATCH_SIZE,
                        starting_position="TRIM_HORIZON")
def fan_out_events(event: DynamoDBEvent) -> dict:
    """Committed changes → their webhook events → one queued delivery per subscription."""
    from chalicelib.events import fanout  # only the fan-out function pays for its imports
    return fanout.handle_records([record.to_dict() for record in event])


@app.on_sqs_message(queue=WEBHOOK_QUEUE, batch_size=DELIVERY_BATCH_SIZE)
def deliver_webhooks(event: SQSEvent) -> dict:
    """One signed POST per message; failed records reported for a partial-batch retry."""
    from chalicelib.events import delivery  # only the delivery function pays for its imports
    records = [(record.to_dict()["messageId"], record.body) for record in event]
    return delivery.Deliverer().deliver_batch(records)
