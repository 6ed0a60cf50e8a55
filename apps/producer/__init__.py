"""Replay producer: Chicago portal CSV -> JSON crime events on Kafka, in event-time order."""
