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

typedef enum
{
  PROBLEM_INVALID,
  PROBLEM_TOO_DEEP,
  PROBLEM_NUL,          /* \u0000: json-glib's strings end there */
  PROBLEM_SURROGATE,    /* half a surrogate pair: no character */
  PROBLEM_BIG_INTEGER,  /* json-glib wraps whole numbers past 64 bits */
  PROBLEM_DUPLICATE,    /* json-glib keeps the last of the two */
} Problem;

typedef struct
{
  const char *data;
  gsize       len;
  gsize       pos;
  Problem     problem;
  GString    *key;      /* the member name read last, decoded */
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

static void
append_unichar (GString *out, gunichar c)
{
  char buf[6];

  g_string_append_len (out, buf, g_unichar_to_utf8 (c, buf));
}

/* A string, from its opening quote: escapes as RFC 8259 lists them, no
 * control characters, valid UTF-8, no \u0000, surrogates only in pairs.
 * Decoded into OUT, if given: member names are compared decoded, as the
 * parser will see them. */
static gboolean
read_string (Reader *r, GString *out)
{
  gsize start;

  if (out != NULL)
    g_string_truncate (out, 0);
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
            case '"': case '\\': case '/':
              if (out != NULL)
                g_string_append_c (out, r->data[r->pos]);
              r->pos++;
              break;
            case 'b': case 'f': case 'n': case 'r': case 't':
              if (out != NULL)
                g_string_append_c (out, "\b\f\n\r\t"[strchr ("bfnrt", r->data[r->pos]) - "bfnrt"]);
              r->pos++;
              break;
            case 'u':
              {
                gunichar u = 0;

                if (r->len - r->pos < 5)
                  return FALSE;
                for (gsize k = 1; k <= 4; k++)
                  {
                    if (!is_hex (r->data[r->pos + k]))
                      return FALSE;
                    u = u << 4 | (gunichar) g_ascii_xdigit_value (r->data[r->pos + k]);
                  }
                if (u == 0)
                  {
                    r->pos--;
                    r->problem = PROBLEM_NUL;
                    return FALSE;
                  }
                /* A surrogate must be the high half of a pair, as
                 * \uD83D\uDE00: alone it is no character, and json-glib
                 * turns it into bytes that are not UTF-8 */
                if (u >= 0xd800 && u < 0xe000)
                  {
                    gunichar low = 0;

                    if (u >= 0xdc00 || r->len - r->pos < 11 || r->data[r->pos + 5] != '\\' ||
                        r->data[r->pos + 6] != 'u')
                      {
                        r->pos--;
                        r->problem = PROBLEM_SURROGATE;
                        return FALSE;
                      }
                    for (gsize k = 7; k <= 10; k++)
                      {
                        if (!is_hex (r->data[r->pos + k]))
                          return FALSE;
                        low = low << 4 | (gunichar) g_ascii_xdigit_value (r->data[r->pos + k]);
                      }
                    if (low < 0xdc00 || low >= 0xe000)
                      {
                        r->pos--;
                        r->problem = PROBLEM_SURROGATE;
                        return FALSE;
                      }
                    u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
                    r->pos += 6;
                  }
                r->pos += 5;
                if (out != NULL)
                  append_unichar (out, u);
              }
              break;
            default:
              return FALSE;
            }
          continue;
        }
      if (out != NULL)
        g_string_append_c (out, (char) c);
      r->pos++;
    }
  return FALSE;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static gboolean
read_number (Reader *r)
{
  gsize start = r->pos;
  gboolean whole = TRUE;
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
      whole = FALSE;
      r->pos++;
      for (digits = 0; r->pos < r->len && g_ascii_isdigit (r->data[r->pos]); digits++)
        r->pos++;
      if (digits == 0)
        return FALSE;
    }
  if (r->pos < r->len && (r->data[r->pos] == 'e' || r->data[r->pos] == 'E'))
    {
      whole = FALSE;
      r->pos++;
      if (r->pos < r->len && (r->data[r->pos] == '+' || r->data[r->pos] == '-'))
        r->pos++;
      for (digits = 0; r->pos < r->len && g_ascii_isdigit (r->data[r->pos]); digits++)
        r->pos++;
      if (digits == 0)
        return FALSE;
    }
  if (whole)
    {
      /* A whole number json-glib would read as a 64-bit integer: past
       * G_MAXINT64 (G_MININT64) it wraps, and 2^63 reads as negative */
      const char *p = r->data + start;
      gboolean negative = *p == '-';
      static const char max[] = "9223372036854775807";
      static const char min[] = "9223372036854775808";
      gsize n;

      if (negative)
        p++;
      n = (gsize) (r->data + r->pos - p);
      if (n > sizeof max - 1 ||
          (n == sizeof max - 1 && memcmp (p, negative ? min : max, n) > 0))
        {
          r->pos = start;
          r->problem = PROBLEM_BIG_INTEGER;
          return FALSE;
        }
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
set_error_at (const Reader *r, const char *what, GError **error, guint max_depth)
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
  switch (r->problem)
    {
    case PROBLEM_TOO_DEEP:
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                   /* Translators: %s is a file name ("machine.json"); the %u are
                    * numbers: a depth, then a line and a column */
                   _("%s is nested more than %u levels deep (line %u, column %u)"),
                   what, max_depth, line, column);
      return;
    case PROBLEM_NUL:
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                   /* Translators: %s is a file name ("machine.json"); the %u
                    * are a line and a column. \\u0000 is written as is. */
                   _("%s holds a string with a null character, \\u0000 (line %u, column %u)"),
                   what, line, column);
      return;
    case PROBLEM_SURROGATE:
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                   /* Translators: %s is a file name ("machine.json"); the %u
                    * are a line and a column */
                   _("%s holds a string with half a surrogate pair, which is no character "
                     "(line %u, column %u)"),
                   what, line, column);
      return;
    case PROBLEM_BIG_INTEGER:
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                   /* Translators: %s is a file name ("machine.json"); the %u
                    * are a line and a column */
                   _("%s holds a whole number too large to read (line %u, column %u)"),
                   what, line, column);
      return;
    case PROBLEM_DUPLICATE:
      {
        g_autofree char *name = g_utf8_make_valid (r->key->str, (gssize) r->key->len);

        if (g_utf8_strlen (name, -1) > 64)
          {
            g_autofree char *cut = g_utf8_substring (name, 0, 64);

            g_free (name);
            name = g_strconcat (cut, "…", NULL);
          }
        g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                     /* Translators: the first %s is a file name ("machine.json"),
                      * the second a member's name; the %u are a line and a column */
                     _("%s has “%s” twice in one object (line %u, column %u)"),
                     what, name, line, column);
        return;
      }
    case PROBLEM_INVALID:
    default:
      break;
    }
  if (r->pos >= r->len)
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

/* A member's name, then its colon; the name must be new in its object
 * (KEYS: the names seen so far there) */
static gboolean
read_member_name (Reader *r, GHashTable *keys)
{
  gsize start;

  skip_space (r);
  start = r->pos;
  if (r->pos >= r->len || r->data[r->pos] != '"' || !read_string (r, r->key))
    return FALSE;
  if (g_hash_table_contains (keys, r->key->str))
    {
      r->pos = start;
      r->problem = PROBLEM_DUPLICATE;
      return FALSE;
    }
  g_hash_table_add (keys, g_strndup (r->key->str, r->key->len));
  skip_space (r);
  if (r->pos >= r->len || r->data[r->pos] != ':')
    return FALSE;
  r->pos++;
  return TRUE;
}

static void
unref_keys (gpointer keys)
{
  if (keys != NULL)
    g_hash_table_unref (keys);
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
 * deeper than @max_depth, and free of what JSON allows but json-glib reads
 * wrongly: a member twice in one object (the last would win), \u0000 in a
 * string (json-glib's strings end there), whole numbers past 64 bits (they
 * wrap). Uses no recursion.
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
  /* What each open container expects next, and an object's names so far */
  enum { IN_ARRAY, IN_OBJECT };
  g_autofree guint8 *stack = g_malloc (max_depth + 1);
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (unref_keys);
  g_autoptr(GString) key = g_string_new (NULL);
  Reader r = { data, len, 0, PROBLEM_INVALID, key };
  guint depth = 0;

  for (guint i = 0; i <= max_depth; i++)
    g_ptr_array_add (keys, NULL);

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
              r.problem = PROBLEM_TOO_DEEP;
              goto invalid;
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
              if (keys->pdata[depth] == NULL)
                keys->pdata[depth] = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                            NULL);
              else
                g_hash_table_remove_all (keys->pdata[depth]);
              if (!read_member_name (&r, keys->pdata[depth]))
                goto invalid;
            }
          continue;
        }
      else if (c == '"')
        {
          if (!read_string (&r, NULL))
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
              if (stack[depth - 1] == IN_OBJECT && !read_member_name (&r, keys->pdata[depth]))
                goto invalid;
              break;
            }
          if (c != (stack[depth - 1] == IN_ARRAY ? ']' : '}'))
            goto invalid;
          r.pos++;
          depth--;
        }
    }

invalid:
  set_error_at (&r, what, error, max_depth);
  return FALSE;
}
