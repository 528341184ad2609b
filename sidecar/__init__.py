"""node-heap-sidecar: size a Node.js heap to its ECS task before Node starts."""

__version__ = "0.2.0"
