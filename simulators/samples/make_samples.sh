#!/usr/bin/env bash
# Recreate the sample caller WAVs (8 kHz mono G.711 mu-law) with espeak-ng and sox.
# Needs: espeak-ng, sox (apt-get install -y espeak-ng sox).
set -euo pipefail
cd "$(dirname "$0")"

say() {  # say OUT.wav WORDS_PER_MINUTE "text"
    local out=$1 wpm=$2 text=$3 tmp
    tmp=$(mktemp --suffix=.wav)
    espeak-ng -v en-us -s "$wpm" -w "$tmp" "$text"
    # Resample to 8 kHz, encode mu-law, trim leading/trailing silence, keep 200 ms of tail.
    sox "$tmp" -r 8000 -c 1 -e mu-law -b 8 "$out" \
        silence 1 0.05 1% reverse silence 1 0.05 1% reverse pad 0 0.15
    rm -f "$tmp"
    printf '%s: %s s\n' "$out" "$(soxi -D "$out")"
}

say turn1_opening_hours.wav 175 "Hi, what are your opening hours?"
say turn2_message.wav 430 "Could you take a message for the manager? My name is Sam and my number is five five five, zero one zero zero."
say turn3_one_more_thing.wav 175 "Sorry, one more thing."
