/*
 * escape.c: text written into LaTeX: the specials escaped, the non-ASCII
 * characters of the method READMEs mapped to LaTeX (or to ASCII in verbatim
 * blocks), table cells and breakable typewriter paths.
 * Covered by tests/report.sh.
 */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- LaTeX text ----------------------------------------------------------------------- */
typedef struct uni_ {
    unsigned cp;
    const char *tex, *ascii;
} uni_;

/* The non-ASCII characters of the method READMEs (and common others): LaTeX
 * for text, ASCII for verbatim blocks. Anything else becomes '?'. */
static const uni_ uni_map_[] = {
    {0x00B7, "$\\cdot$", "."},        {0x0177, "$\\hat{y}$", "y^"},     {0x2212, "$-$", "-"},
    {0x03A3, "$\\Sigma$", "Sum"},     {0x00B1, "$\\pm$", "+-"},         {0x03C4, "$\\tau$", "tau"},
    {0x2265, "$\\geq$", ">="},        {0x2264, "$\\leq$", "<="},        {0x2260, "$\\neq$", "!="},
    {0x00D7, "$\\times$", "x"},       {0x00B2, "$^2$", "^2"},           {0x03B8, "$\\theta$", "theta"},
    {0x2013, "--", "-"},              {0x2014, "---", "--"},            {0x2208, "$\\in$", "in"},
    {0x2190, "$\\leftarrow$", "<-"},  {0x2192, "$\\rightarrow$", "->"}, {0x2026, "\\dots{}", "..."},
    {0x03C3, "$\\sigma$", "sigma"},   {0x00BD, "$\\frac12$", "1/2"},    {0x03B1, "$\\alpha$", "alpha"},
    {0x03B2, "$\\beta$", "beta"},     {0x03BB, "$\\lambda$", "lambda"}, {0x03BC, "$\\mu$", "mu"},
    {0x00B5, "$\\mu$", "u"},          {0x2248, "$\\approx$", "~="},     {0x221E, "$\\infty$", "inf"},
    {0x2018, "`", "'"},               {0x2019, "'", "'"},               {0x201C, "``", "\""},
    {0x201D, "''", "\""},             {0x00E9, "\\'e", "e"},            {0x0394, "$\\Delta$", "Delta"},
    {0x03B5, "$\\epsilon$", "eps"},   {0x03C0, "$\\pi$", "pi"},         {0x00B0, "$^\\circ$", "deg"},
};

/* Decodes one UTF-8 character at s (n bytes left); returns its length. */
static int utf8_(const unsigned char *s, size_t n, unsigned *cp)
{
    int len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    if ((size_t)len > n) len = 1;
    unsigned v = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) v = (v << 6) | (s[i] & 0x3F);
    *cp = v;
    return len;
}

static const uni_ *uni_find_(unsigned cp)
{
    for (size_t i = 0; i < sizeof uni_map_ / sizeof *uni_map_; i++)
        if (uni_map_[i].cp == cp) return &uni_map_[i];
    return NULL;
}

/* Text with the LaTeX specials escaped; code: '/' may break a line there. */
void tex_n(FILE *o, const char *s, size_t n, bool code)
{
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80) {
            unsigned cp;
            int len = utf8_((const unsigned char *)s + i, n - i, &cp);
            const uni_ *u = uni_find_(cp);
            fputs(u ? u->tex : "?", o);
            i += (size_t)len;
            continue;
        }
        switch (ch) {
        case '\\': fputs("\\textbackslash{}", o); break;
        case '{': case '}': case '$': case '&': case '#': case '_': case '%': fprintf(o, "\\%c", ch); break;
        case '^': fputs("\\^{}", o); break;
        case '~': fputs("\\textasciitilde{}", o); break;
        case '<': fputs("\\textless{}", o); break;
        case '>': fputs("\\textgreater{}", o); break;
        case '|': fputs("\\textbar{}", o); break;
        case '/': case '-': case '.':
            /* code may break after these; in text "--" must not become a dash */
            fputc(ch, o);
            if (code) fputs("\\allowbreak{}", o);
            else if (ch == '-' && i + 1 < n && s[i + 1] == '-') fputs("{}", o);
            break;
        default: fputc(ch, o);
        }
        i++;
    }
}

void tex(FILE *o, const char *s)
{
    tex_n(o, s, strlen(s), false);
}

/* n escaped cells joined by " & " (no row end). */
void tex_cells(FILE *o, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        if (i) fputs(" & ", o);
        tex(o, va_arg(ap, const char *));
    }
    va_end(ap);
}

/* A path in typewriter type, breakable after '/'. */
void tex_path(FILE *o, const char *s)
{
    fputs("\\texttt{", o);
    tex_n(o, s, strlen(s), true);
    fputs("}", o);
}

void verb_line(FILE *o, const char *s)
{
    for (size_t i = 0, n = strlen(s); i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80) {
            unsigned cp;
            int len = utf8_((const unsigned char *)s + i, n - i, &cp);
            const uni_ *u = uni_find_(cp);
            fputs(u ? u->ascii : "?", o);
            i += (size_t)len;
        } else {
            fputc(ch == '\t' ? ' ' : ch, o);
            i++;
        }
    }
    fputc('\n', o);
}
