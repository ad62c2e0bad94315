"""FastAPI routers, schemas, auth and RFC 9457 errors."""
