"""HTTP and WebSocket routes: the gateway's edge. Only here do HTTP concepts appear."""
