#!/bin/sh
# Translations: POTFILES.in names every file with user-visible strings, and
# every language in LINGUAS translates every string, with valid formats.
# TAP output.
set -u
SRC=${1:?usage: test-po.sh SOURCE-ROOT}
cd "$SRC" || exit 1
n=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }

listed=$(grep -v '^#' po/POTFILES.in | grep -v '^$' | sort)

# Files that hold translatable strings: C with _( or N_( or C_( , .ui with
# translatable="yes", and the data templates.
found=$( { git ls-files 'src/*.c' 2>/dev/null || find src -name '*.c'; } | \
           xargs grep -l -E '(^|[^A-Za-z0-9_])(N?_|C_|g_dngettext)\(' 2>/dev/null;
         { git ls-files 'data/ui/*.ui' 2>/dev/null || find data/ui -name '*.ui'; } | \
           xargs grep -l 'translatable="yes"' 2>/dev/null;
         ls data/*.desktop.in.in data/*.metainfo.xml.in.in data/*.gschema.xml )
found=$(echo "$found" | sort -u)

missing=$(comm -13 "$(printf '%s\n' "$listed" > "$tmp/l"; echo "$tmp/l")" \
                   "$(printf '%s\n' "$found" > "$tmp/f"; echo "$tmp/f")")
if [ -z "$missing" ]; then
  ok "POTFILES.in lists every file with translatable strings"
else
  not_ok "POTFILES.in lists every file with translatable strings"
  echo "$missing" | sed 's/^/# missing: /'
fi

stale=""
for f in $listed; do [ -f "$f" ] || stale="$stale $f"; done
if [ -z "$stale" ]; then
  ok "every file in POTFILES.in exists"
else
  not_ok "every file in POTFILES.in exists:$stale"
fi

# A fresh template from the sources, so a string added without a translation
# fails here even if nobody regenerated po/vivarium.pot.
xgettext --from-code=UTF-8 --add-comments=Translators --keyword=_ --keyword=N_ \
  --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dngettext:2,3 \
  --files-from=po/POTFILES.in --directory=. --output="$tmp/vivarium.pot" 2>"$tmp/xgettext.err"
if [ -s "$tmp/vivarium.pot" ]; then
  ok "xgettext extracts the strings"
else
  not_ok "xgettext extracts the strings"; sed 's/^/# /' "$tmp/xgettext.err"
fi

for lang in $(grep -v '^#' po/LINGUAS); do
  msgmerge --quiet --no-fuzzy-matching "po/$lang.po" "$tmp/vivarium.pot" -o "$tmp/$lang.po" 2>/dev/null
  stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$tmp/$lang.po" 2>&1)
  rc=$?
  if [ $rc = 0 ] && ! echo "$stats" | grep -Eq 'untranslated|fuzzy'; then
    ok "$lang: every string translated, formats valid ($stats)"
  else
    not_ok "$lang: every string translated, formats valid"
    echo "$stats" | sed 's/^/# /'
    msgattrib --untranslated --no-obsolete "$tmp/$lang.po" 2>/dev/null | grep '^msgid' | sed 's/^/# untranslated: /' | head -20
  fi
done

echo "1..$n"
exit $failed
