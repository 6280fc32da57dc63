"""The Chalice app: the authorizer, one blueprint per resource and the 405s, under /api/v1."""
from chalice import Chalice

from chalicelib.api import clients, invoices, me, projects, routing, sessions
from chalicelib.auth.authorizer import auth

API_PREFIX = "/api/v1"

app = Chalice(app_name="temporalist")
app.register_blueprint(auth)
for blueprint in (me.me, projects.projects, sessions.sessions, clients.clients,
                  invoices.invoices):
    app.register_blueprint(blueprint, url_prefix=API_PREFIX)
routing.install_method_not_allowed(app)
