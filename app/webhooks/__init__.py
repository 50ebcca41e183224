"""Outbound webhooks: alert events signed and sent to a hospital's subscribers from a durable outbox."""
