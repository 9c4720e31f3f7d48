"""The gateway's domain: a call's playback state, agent liveness, dispatch. No Twilio here."""
