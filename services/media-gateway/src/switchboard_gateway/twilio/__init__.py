"""Twilio adapter: signatures, TwiML and the Media Streams wire format. Nothing else."""
