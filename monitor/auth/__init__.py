"""Access control (issue 15): who may see and do what. Config models (`auth.config`), the route
policy (`auth.policy`), credentials, sessions and the request gate, logins (form and OIDC), the
audit trail. Imports nothing at package level: monitor.config imports `auth.config`."""
