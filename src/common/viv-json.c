/* viv-json.c: strict JSON (RFC 8259), checked before json-glib parses it
 *
 * json-glib's parser accepts more than JSON (comments, single-quoted
 * strings, hexadecimal numbers) and recurses once per level of nesting, so
 * a deep enough file overflows the stack of whatever loads it. This check
 * walks the text with the grammar of RFC 8259 and nothing more, without
 * recursion, counting the depth itself: a text it accepts is JSON, and its
 * depth is the depth json-glib will see. A text it refuses gets a message
 * with the line and column, the way a person editing machine.json by hand
 * needs it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-json"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "viv-json.h"
#include "viv-machine-config.h"

typedef struct
{
  const char *data;
  gsize       len;
  gsize       pos;
} Reader;

static void
skip_space (Reader *r)
{
  while (r->pos < r->len && (r->data[r->pos] == ' ' || r->data[r->pos] == '\t' ||
                             r->data[r->pos] == '\n' || r->data[r->pos] == '\r'))
    r->pos++;
}

static gboolean
is_hex (char c)
{
  return g_ascii_isxdigit (c);
}

/* A string, from its opening quote: escapes as RFC 8259 lists them, no
 * control characters, valid UTF-8 */
static gboolean
read_string (Reader *r)
{
  gsize start;

  r->pos++; /* the quote */
  start = r->pos;
  while (r->pos < r->len)
    {
      unsigned char c = (unsigned char) r->data[r->pos];

      if (c == '"')
        {
          if (!g_utf8_validate (r->data + start, (gssize) (r->pos - start), NULL))
            return FALSE;
          r->pos++;
          return TRUE;
        }
      if (c < 0x20)
        return FALSE;
      if (c == '\\')
        {
          if (++r->pos >= r->len)
            return FALSE;
          switch (r->data[r->pos])
            {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
              r->pos++;
              break;
            case 'u':
              if (r->len - r->pos < 5)
                return FALSE;
              for (gsize k = 1; k <= 4; k++)
                if (!is_hex (r->data[r->pos + k]))
                  return FALSE;
              r->pos += 5;
              break;
            default:
              return FALSE;
            }
          continue;
        }
      r->pos++;
    }
  return FALSE;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static gboolean
read_number (Reader *r)
{
  gsize digits;

  if (r->data[r->pos] == '-')
    r->pos++;
  if (r->pos >= r->len || !g_ascii_isdigit (r->data[r->pos]))
    return FALSE;
  if (r->data[r->pos] == '0')
    r->pos++;
  else
    while (r->pos < r->len && g_ascii_isdigit (r->data[r->pos]))
      r->pos++;
  if (r->pos < r->len && r->data[r->pos] == '.')
    {
      r->pos++;
      for (digits = 0; r->pos < r->len && g_ascii_isdigit (r->data[r->pos]); digits++)
        r->pos++;
      if (digits == 0)
        return FALSE;
    }
  if (r->pos < r->len && (r->data[r->pos] == 'e' || r->data[r->pos] == 'E'))
    {
      r->pos++;
      if (r->pos < r->len && (r->data[r->pos] == '+' || r->data[r->pos] == '-'))
        r->pos++;
      for (digits = 0; r->pos < r->len && g_ascii_isdigit (r->data[r->pos]); digits++)
        r->pos++;
      if (digits == 0)
        return FALSE;
    }
  return TRUE;
}

static gboolean
read_word (Reader *r, const char *word)
{
  gsize n = strlen (word);

  if (r->len - r->pos < n || memcmp (r->data + r->pos, word, n) != 0)
    return FALSE;
  r->pos += n;
  return TRUE;
}

static void
set_error_at (const Reader *r, const char *what, GError **error, gboolean too_deep,
              guint max_depth)
{
  guint line = 1, column = 1;

  for (gsize i = 0; i < r->pos && i < r->len; i++)
    {
      if (r->data[i] == '\n')
        {
          line++;
          column = 1;
        }
      else if (((unsigned char) r->data[i] & 0xc0) != 0x80)
        column++;
    }
  if (too_deep)
    g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                 /* Translators: %s is a file name ("machine.json"); the %u are
                  * numbers: a depth, then a line and a column */
                 _("%s is nested more than %u levels deep (line %u, column %u)"),
                 what, max_depth, line, column);
  else if (r->pos >= r->len)
    g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                 /* Translators: %s is a file name ("machine.json"); the %u
                  * are a line and a column */
                 _("%s is not valid JSON: it ends too early (line %u, column %u)"),
                 what, line, column);
  else
    g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                 /* Translators: %s is a file name ("machine.json"); the %u
                  * are a line and a column */
                 _("%s is not valid JSON at line %u, column %u"), what, line, column);
}

/**
 * viv_json_check:
 * @data: the text, not necessarily nul-terminated
 * @len: its length in bytes
 * @max_depth: the most arrays and objects that may be open at once
 * @what: what the text is, for messages ("machine.json")
 * @error: return location for a %VIV_MACHINE_CONFIG_ERROR_PARSE
 *
 * Checks that @data is one JSON value (RFC 8259: no comments, no
 * single-quoted strings, no NaN or Infinity, no trailing commas), nested no
 * deeper than @max_depth. Uses no recursion.
 *
 * Returns: %TRUE if it is
 */
gboolean
viv_json_check (const char  *data,
                gsize        len,
                guint        max_depth,
                const char  *what,
                GError     **error)
{
  /* What each open container expects next: a bit per level would do, but
   * max_depth is small */
  enum { IN_ARRAY, IN_OBJECT };
  g_autofree guint8 *stack = g_malloc (max_depth + 1);
  Reader r = { data, len, 0 };
  guint depth = 0;

  /* A value is expected here; after it, a comma or a closing bracket */
  for (;;)
    {
      char c;

      skip_space (&r);
      if (r.pos >= r.len)
        goto invalid;
      c = r.data[r.pos];

      /* a value */
      if (c == '[' || c == '{')
        {
          if (depth >= max_depth)
            {
              set_error_at (&r, what, error, TRUE, max_depth);
              return FALSE;
            }
          stack[depth++] = c == '[' ? IN_ARRAY : IN_OBJECT;
          r.pos++;
          skip_space (&r);
          if (r.pos < r.len && r.data[r.pos] == (c == '[' ? ']' : '}'))
            {
              r.pos++;
              depth--;
              goto after_value;
            }
          if (c == '{')
            {
              if (r.pos >= r.len || r.data[r.pos] != '"' || !read_string (&r))
                goto invalid;
              skip_space (&r);
              if (r.pos >= r.len || r.data[r.pos] != ':')
                goto invalid;
              r.pos++;
            }
          continue;
        }
      else if (c == '"')
        {
          if (!read_string (&r))
            goto invalid;
        }
      else if (c == '-' || g_ascii_isdigit (c))
        {
          if (!read_number (&r))
            goto invalid;
        }
      else if (!read_word (&r, "true") && !read_word (&r, "false") && !read_word (&r, "null"))
        goto invalid;

    after_value:
      /* closing brackets, until a comma or the end */
      for (;;)
        {
          skip_space (&r);
          if (depth == 0)
            {
              if (r.pos != r.len)
                goto invalid;
              return TRUE;
            }
          if (r.pos >= r.len)
            goto invalid;
          c = r.data[r.pos];
          if (c == ',')
            {
              r.pos++;
              if (stack[depth - 1] == IN_OBJECT)
                {
                  skip_space (&r);
                  if (r.pos >= r.len || r.data[r.pos] != '"' || !read_string (&r))
                    goto invalid;
                  skip_space (&r);
                  if (r.pos >= r.len || r.data[r.pos] != ':')
                    goto invalid;
                  r.pos++;
                }
              break;
            }
          if (c != (stack[depth - 1] == IN_ARRAY ? ']' : '}'))
            goto invalid;
          r.pos++;
          depth--;
        }
    }

invalid:
  set_error_at (&r, what, error, FALSE, max_depth);
  return FALSE;
}
