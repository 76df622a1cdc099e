// Package doccheck reads prescaler's Markdown documentation for the names it
// gives to things the code defines: metric names, label values, the reasons
// listed in a section's table, and the command-line flags of prescaler's
// subcommands. Its tests hold docs/config.md, docs/how-it-decides.md and
// docs/operations.md to the lists the code defines, so a renamed metric, a new
// reason or a removed flag fails a test instead of leaving a doc that
// describes another program.
//
// The readers are deliberately plain: they look at text, not at a Markdown
// tree, and each one is tested on small fabricated documents.
package doccheck

import (
	"regexp"
	"slices"
	"strings"
)

var (
	metricName = regexp.MustCompile(`\bprescaler_[a-z0-9_]+`)
	// The series a histogram adds to its name.
	histogramSeries = regexp.MustCompile(`_(bucket|count|sum)$`)
	codeSpan        = regexp.MustCompile("`([^`]+)`")
	flagToken       = regexp.MustCompile(`^\[?--([a-z0-9][a-z0-9-]*)`)
)

// MetricNames returns the prescaler_* metric names doc mentions, with a
// histogram's _bucket, _count and _sum series named by the histogram itself,
// sorted and without repeats.
func MetricNames(doc string) []string {
	var names []string
	for _, n := range metricName.FindAllString(doc, -1) {
		names = append(names, histogramSeries.ReplaceAllString(n, ""))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// LabelValues returns the values doc gives label in selectors on metric,
// as in prescaler_decision_reason{reason="gpu_capacity"}, sorted and without
// repeats. Another metric's label of the same name is not metric's.
func LabelValues(doc, metric, label string) []string {
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(metric) + `\{[^}]*?\b` + regexp.QuoteMeta(label) + `\s*=~?\s*"([^"]*)"`)
	var values []string
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		values = append(values, m[1])
	}
	slices.Sort(values)
	return slices.Compact(values)
}

// TableNames returns the code spans in the first column of the tables in
// the section of doc whose heading is heading (any level, without the
// hashes), up to the next heading of the same or a higher level; a row such
// as "| `FloorRaised`, `FloorLowered` | … |" gives both names.
func TableNames(doc, heading string) []string {
	var names []string
	level := 0
	fenced := false
	for line := range strings.Lines(doc) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		if fenced {
			continue // a "# comment" in a code block is no heading
		}
		if hashes, title, ok := headingOf(line); ok {
			switch {
			case level == 0 && title == heading:
				level = hashes
			case level > 0 && hashes <= level:
				return names
			}
			continue
		}
		if level == 0 || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
	}
	return names
}

// headingOf splits a Markdown heading line into its level and title.
func headingOf(line string) (level int, title string, ok bool) {
	level = len(line) - len(strings.TrimLeft(line, "#"))
	if level == 0 || level > 6 || !strings.HasPrefix(line[level:], " ") {
		return 0, "", false
	}
	return level, strings.TrimSpace(line[level:]), true
}

// Use is a doc's use of prescaler's command line: a subcommand, or a flag.
type Use struct {
	// Command is the prescaler subcommand run ("run", "backtest"…); "" for a
	// flag the doc names on its own, as in `--log-level debug`, or gives to
	// prescaler itself.
	Command string
	// Flag is the flag's name without its dashes; "" for the subcommand
	// itself.
	Flag string
	// Line is the line of doc that holds it, from 1.
	Line int
}

// Uses returns the prescaler subcommands doc runs in its code (inline code
// spans and fenced blocks) with the flags given to each, and the flags a code
// span names on its own (a span that begins with --). Other programs' flags
// (`kubectl apply --server-side`) are not prescaler's and are left out; so is
// prose, where "prescaler run" may be a phrase and not a command.
func Uses(doc string) []Use {
	var uses []Use
	for _, c := range codeOf(doc) {
		for _, segment := range strings.FieldsFunc(c.text, func(r rune) bool { return r == '|' || r == ';' }) {
			tokens := strings.Fields(segment)
			if len(tokens) > 0 && strings.HasPrefix(tokens[0], "--") && c.inline {
				uses = append(uses, flagsIn(tokens, "", c.line)...)
				continue
			}
			if cmd, rest, ok := prescalerCommand(tokens); ok {
				if cmd != "" {
					uses = append(uses, Use{Command: cmd, Line: c.line})
				}
				uses = append(uses, flagsIn(rest, cmd, c.line)...)
			}
		}
	}
	return uses
}

// prescalerCommand finds a prescaler invocation among a shell segment's
// tokens: "prescaler" first, after a "$" prompt, or after a word ending in a
// colon ("# Check a file with:  prescaler check-config …"), followed by its
// subcommand. Elsewhere "prescaler" is an argument (kubectl -n prescaler …).
func prescalerCommand(tokens []string) (cmd string, rest []string, ok bool) {
	for i, tok := range tokens {
		if tok != "prescaler" || i+1 == len(tokens) {
			continue
		}
		if i > 0 && tokens[i-1] != "$" && !strings.HasSuffix(tokens[i-1], ":") {
			continue
		}
		if strings.HasPrefix(tokens[i+1], "-") {
			return "", tokens[i+1:], true // the root command's own flags
		}
		return tokens[i+1], tokens[i+2:], true
	}
	return "", nil, false
}

func flagsIn(tokens []string, cmd string, line int) []Use {
	var out []Use
	for _, tok := range tokens {
		if m := flagToken.FindStringSubmatch(tok); m != nil {
			out = append(out, Use{Command: cmd, Flag: m[1], Line: line})
		}
	}
	return out
}

// code is one piece of code in a doc: an inline span, or one logical line of
// a fenced block (a line ending in a backslash continues on the next).
type code struct {
	text   string
	line   int
	inline bool
}

func codeOf(doc string) []code {
	var out []code
	fenced := false
	var pending *code
	n := 0
	for line := range strings.Lines(doc) {
		n++
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
				out = append(out, code{text: m[1], line: n, inline: true})
			}
			continue
		}
		if pending != nil {
			pending.text += " " + line
		} else {
			pending = &code{text: line, line: n}
		}
		if strings.HasSuffix(line, `\`) {
			pending.text = strings.TrimSuffix(pending.text, `\`)
			continue
		}
		out = append(out, *pending)
		pending = nil
	}
	return out
}
