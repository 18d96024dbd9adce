"""Kafka adapters (kafka-python): the publisher the relay uses, the consumer the
workers use, and topic administration. Every kafka error leaves this package
as BrokerUnavailable."""
