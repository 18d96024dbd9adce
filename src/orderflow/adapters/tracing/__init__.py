"""OpenTelemetry: the process's tracer provider and the decorators that
make spans around ports (composed in containers.py when tracing is on)."""
