#!/bin/sh
# gen.sh: make vectors.txt with the openssl command line only
# (wecom-api.md 9.3-9.5), independent of proxy/wxcrypt.c.
# usage: sh gen.sh > vectors.txt
# One line per vector:
#   NAME EXPECT TOKEN KEY43 RECEIVEID TIMESTAMP NONCE ENCRYPT SIGNATURE MSGHEX
# EXPECT is ok or the failure (signature base64 length padding msglen
# receiver); "-" stands for an empty RECEIVEID or MSGHEX.
set -eu
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
TOKEN=tok123; KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
RID=ww0123456789abcdef; TS=1700000000; NONCE=42; R16=AAAAAAAAAAAAAAAA
KEYHEX=$(printf '%s=' "$KEY" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n')
IVHEX=$(printf '%s' "$KEYHEX" | cut -c1-32)
be32() { n=$1; printf "\\$(printf '%03o' $(( (n>>24)&255 )))\\$(printf '%03o' $(( (n>>16)&255 )))\\$(printf '%03o' $(( (n>>8)&255 )))\\$(printf '%03o' $(( n&255 )))"; }
sig() { printf '%s\n' "$TOKEN" "$TS" "$NONCE" "$1" | LC_ALL=C sort | tr -d '\n' | openssl dgst -sha1 -r | cut -c1-40; }
hex() { od -An -v -tx1 < "$1" | tr -d ' \n'; }
# plain MSGFILE RID [LENFIELD] -> $T/plain.bin unpadded
plain() { len=${3:-$(wc -c < "$1" | tr -d ' ')}
	{ printf '%s' "$R16"; be32 "$len"; cat "$1"; printf '%s' "$2"; } > "$T/plain.bin"; }
padit() { l=$(wc -c < "$T/plain.bin" | tr -d ' '); p=$(( 32 - l % 32 ))
	head -c "$p" /dev/zero | tr '\000' "\\$(printf '%03o' "$p")" >> "$T/plain.bin"; }
enc() { openssl enc -aes-256-cbc -nopad -K "$KEYHEX" -iv "$IVHEX" -in "$T/plain.bin" | openssl base64 -A; }
emit() { # NAME EXPECT RID ENCRYPT MSGFILE|-
	s=$(sig "$4"); m=-; [ "$5" = - ] || { m=$(hex "$5"); [ -n "$m" ] || m=-; }
	r=$3; [ -n "$r" ] || r=-
	echo "$1 $2 $TOKEN $KEY $r $TS $NONCE $4 $s $m"; }
# Positive: pad 32, 1, 16, 17 (20 + len + 18 = 0, 31, 16, 15 mod 32).
for n in 26 25 10 9 58 0; do
	head -c "$n" /dev/zero | tr '\000' x > "$T/m"
	[ "$n" -ne 26 ] || printf '<xml><Content>hi</Content>' > "$T/m"
	plain "$T/m" "$RID"; padit; emit "len$n" ok "$RID" "$(enc)" "$T/m"
done
printf '<xml><Content><![CDATA[\344\275\240\345\245\275 \360\237\230\200]]></Content></xml>' > "$T/m"
plain "$T/m" "$RID"; padit; emit utf8 ok "$RID" "$(enc)" "$T/m"
plain "$T/m" ""; padit; emit empty_rid ok "" "$(enc)" "$T/m"
head -c 70000 /dev/zero | tr '\000' y > "$T/big"
plain "$T/big" "$RID"; padit; E=$(enc); emit big ok "$RID" "$E" "$T/big"
# Negative.
printf 'hello' > "$T/m"; plain "$T/m" "$RID"; padit; E=$(enc)
S=$(sig "$E"); BAD=$(printf '%s' "$S" | cut -c1-39)$(printf '%s' "$S" | cut -c40 | tr '0-9a-f' '1-9a-f0')
echo "badsig signature $TOKEN $KEY $RID $TS $NONCE $E $BAD -"
plain "$T/m" ww_other_corp; padit; emit receiver receiver "$RID" "$(enc)" -
emit b64chars base64 "$RID" "$(printf '%s' "$E" | cut -c1-8)*$(printf '%s' "$E" | cut -c10-)" -
emit b64trunc base64 "$RID" "$(printf '%s' "$E" | cut -c2-)" -
plain "$T/m" "$RID"; padit; head -c 48 "$T/plain.bin" > "$T/p48"; mv "$T/p48" "$T/plain.bin"
emit ct48 length "$RID" "$(enc)" -
plain "$T/m" "$RID"; l=$(wc -c < "$T/plain.bin" | tr -d ' ')
head -c $(( 63 - l )) /dev/zero >> "$T/plain.bin"; printf '\000' >> "$T/plain.bin"
emit pad0 padding "$RID" "$(enc)" -
plain "$T/m" "$RID"; head -c $(( 63 - l )) /dev/zero >> "$T/plain.bin"; printf '\041' >> "$T/plain.bin"
emit pad33 padding "$RID" "$(enc)" -
plain "$T/m" "$RID" 2147483647; padit; emit msglen msglen "$RID" "$(enc)" -
printf 'abc' > "$T/plain.bin"; padit; emit short msglen "$RID" "$(enc)" -
