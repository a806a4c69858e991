"""The watching engine: decides what to poll and when, runs the mail code, and turns the
results into stored state and outbox rows. No discord import: cogs/ renders and sends."""
