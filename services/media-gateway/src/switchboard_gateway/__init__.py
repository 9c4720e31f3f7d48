"""Media gateway: Twilio's voice webhook and Media Streams, bridged onto the Switchboard bus."""
