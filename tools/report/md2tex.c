/*
 * md2tex.c: the minimal Markdown-to-LaTeX conversion that turns each method's
 * experiments/<method>/README.md into a section of report.tex: headings,
 * paragraphs, lists, tables, fenced and indented code blocks, and inline
 * code, bold, emphasis and links. Covered by tests/report.sh.
 */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inline Markdown: `code`, **bold**, *emphasis*, [text](link) (the link is
 * dropped); everything else is escaped text. */
static void md_inline_(FILE *o, const char *s, size_t n)
{
    size_t i = 0, start = 0;
    while (i < n) {
        const char *close = NULL;
        size_t skip = 0;
        if (s[i] == '`') {
            close = memchr(s + i + 1, '`', n - i - 1);
            if (close) {
                tex_n(o, s + start, i - start, false);
                fputs("\\texttt{", o);
                tex_n(o, s + i + 1, (size_t)(close - s - (long)i - 1), true);
                fputs("}", o);
                i = start = (size_t)(close - s) + 1;
                continue;
            }
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '*') {
            close = memmem(s + i + 2, n - i - 2, "**", 2);
            skip = 2;
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] != ' ') {
            close = memchr(s + i + 1, '*', n - i - 1);
            skip = 1;
        } else if (s[i] == '[') {
            const char *rb = memchr(s + i, ']', n - i);
            if (rb && (size_t)(rb - s) + 1 < n && rb[1] == '(') {
                const char *rp = memchr(rb, ')', n - (size_t)(rb - s));
                if (rp) {
                    tex_n(o, s + start, i - start, false);
                    md_inline_(o, s + i + 1, (size_t)(rb - s) - i - 1);
                    i = start = (size_t)(rp - s) + 1;
                    continue;
                }
            }
        }
        if (close && close > s + i + skip) {
            tex_n(o, s + start, i - start, false);
            fputs(skip == 2 ? "\\textbf{" : "\\emph{", o);
            md_inline_(o, s + i + skip, (size_t)(close - s) - i - skip);
            fputs("}", o);
            i = start = (size_t)(close - s) + skip;
            continue;
        }
        i++;
    }
    tex_n(o, s + start, n - start, false);
}

/* Cells of a Markdown table row (modified in place); '|' inside `code` stays. */
static int md_cells_(char *line, char **cells, int max)
{
    char *p = line;
    while (*p == ' ') p++;
    if (*p == '|') p++;
    int n = 0;
    bool code = false;
    char *cell = p;
    for (; *p; p++) {
        if (*p == '`') code = !code;
        if (*p == '|' && !code) {
            *p = 0;
            if (n < max) cells[n++] = cell;
            cell = p + 1;
        }
    }
    while (*cell == ' ') cell++;
    if (*cell && n < max) cells[n++] = cell;
    for (int i = 0; i < n; i++) {
        while (*cells[i] == ' ') cells[i]++;
        size_t l = strlen(cells[i]);
        while (l && cells[i][l - 1] == ' ') cells[i][--l] = 0;
    }
    return n;
}

static bool md_rule_row_(const char *line)
{
    for (const char *p = line; *p; p++)
        if (!strchr("|-: ", *p)) return false;
    return strchr(line, '-') != NULL;
}

/* The list marker length at line ("- ", "* ", "12. "), or 0. */
static int md_item_(const char *line, bool *ordered)
{
    const char *p = line;
    while (*p == ' ') p++;
    if ((p[0] == '-' || p[0] == '*') && p[1] == ' ') {
        *ordered = false;
        return (int)(p - line) + 2;
    }
    const char *q = p;
    while (isdigit((unsigned char)*q)) q++;
    if (q > p && q[0] == '.' && q[1] == ' ') {
        *ordered = true;
        return (int)(q - line) + 2;
    }
    return 0;
}

/* A README as a section: headings, paragraphs, lists, tables and code blocks. */
int md_to_tex(FILE *o, const char *path, const char *method, sg_err *err)
{
    FILE *in = fopen(path, "r");
    if (!in) return sg_err_set(err, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    bool code = false, titled = false, list = false, ordered = false, table = false, icode = false, blank = true;
    int cols = 0;
    while (getline(&line, &cap, in) > 0) {
        chomp(line);
        bool was_blank = blank;
        blank = !line[strspn(line, " \t")];
        /* an indented code block: 4 spaces after a blank line, up to the next
         * line that is neither blank nor indented */
        if (icode && (blank || !strncmp(line, "    ", 4))) {
            verb_line(o, blank ? "" : line + 4);
            continue;
        }
        if (icode) {
            fputs("\\end{Verbatim}\n", o);
            icode = false;
        }
        if (!code && !table && was_blank && titled && !strncmp(line, "    ", 4) && line[4] != ' ' && !blank) {
            if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            fputs("\\begin{Verbatim}[fontsize=\\small]\n", o);
            verb_line(o, line + 4);
            icode = true;
            continue;
        }
        if (!strncmp(line, "```", 3)) {
            if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            fputs(code ? "\\end{Verbatim}\n" : "\\begin{Verbatim}[fontsize=\\small]\n", o);
            code = !code;
            continue;
        }
        if (code) {
            verb_line(o, line);
            continue;
        }
        bool is_row = line[0] == '|';
        if (table && !is_row) {
            fputs("\\bottomrule\n\\end{tabularx}\\end{center}\n", o);
            table = false;
        }
        if (is_row) {
            char *cells[32];
            int n = md_cells_(line, cells, 32);
            if (!table) {
                if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
                cols = n ? n : 1;
                fprintf(o, "\\begin{center}\\footnotesize\n\\begin{tabularx}{\\linewidth}{@{}*{%d}"
                           "{>{\\raggedright\\arraybackslash}X}@{}}\n\\toprule\n", cols);
                table = true;
            } else if (md_rule_row_(line)) {
                fputs("\\midrule\n", o);
                continue;
            }
            for (int i = 0; i < cols; i++) {
                if (i) fputs(" & ", o);
                if (i < n) md_inline_(o, cells[i], strlen(cells[i]));
            }
            fputs(" \\\\\n", o);
            continue;
        }
        int h = 0;
        while (line[h] == '#') h++;
        if (h && line[h] == ' ') {
            if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            const char *t = line + h + 1;
            if (h == 1 && !titled) {
                fputs("\\section{", o);
                tex(o, t);
                fputs("}\n", o);
            } else {
                if (!titled) {
                    fputs("\\section{", o);
                    tex(o, method);
                    fputs("}\n", o);
                }
                fputs(h <= 2 ? "\\subsection{" : "\\subsubsection*{", o);
                md_inline_(o, t, strlen(t));
                fputs("}\n", o);
            }
            titled = true;
            continue;
        }
        if (!titled) {
            fputs("\\section{", o);
            tex(o, method);
            fputs("}\n", o);
            titled = true;
        }
        bool ord = false;
        int item = md_item_(line, &ord);
        if (item) {
            if (list && ord != ordered) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            if (!list) fprintf(o, "\\begin{%s}\n", ord ? "enumerate" : "itemize");
            list = true;
            ordered = ord;
            fputs("\\item ", o);
            md_inline_(o, line + item, strlen(line + item));
            fputc('\n', o);
            continue;
        }
        if (!*line) {
            if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            fputs("\n", o);
            continue;
        }
        md_inline_(o, line, strlen(line));
        fputc('\n', o);
    }
    if (code || icode) fputs("\\end{Verbatim}\n", o);
    if (table) fputs("\\bottomrule\n\\end{tabularx}\\end{center}\n", o);
    if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize");
    free(line);
    fclose(in);
    return 0;
}
