package sweep

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/relwatch/relwatch/scenario/synth"
)

// WriteText writes the report as a table, one line per shape, then the
// worst run of each shape that missed a target, with the command that
// writes it out for a replay.
func (r Report) WriteText(w io.Writer) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "sweep: %d shapes x %d seeds (%s) = %d replays, %d at a time, %s\n\n",
		len(r.Shapes), len(r.Seeds), seedText(r.Seeds), r.Replays, r.Parallel, (time.Duration(r.WallMS) * time.Millisecond).Round(100*time.Millisecond))
	fmt.Fprintf(&sb, "%-30s %-7s %4s %5s %5s %4s %5s %5s %5s %5s  %-26s %-16s %s\n",
		"shape", "kind", "runs", "false", "fault", "miss", "never", "p50", "p95", "max", "targets", "worst", "")
	met := 0
	for _, s := range r.Shapes {
		kind, miss, never, p50, p95, mx := "healthy", "-", "-", "-", "-", "-"
		if s.Bad {
			kind = "bad"
			miss, never = fmt.Sprint(s.Misses), fmt.Sprint(s.Never)
			p50, p95, mx = seconds(s.DelayP50), seconds(s.DelayP95), seconds(s.DelayMax)
		}
		status := "ok"
		if s.Met() {
			met++
		} else {
			status = "MISSED: " + strings.Join(s.Failed, "; ")
		}
		fmt.Fprintf(&sb, "%-30s %-7s %4d %5d %5d %4s %5s %5s %5s %5s  %-26s %-16s %s\n",
			s.Shape, kind, s.Runs, s.FalseRollbacks, s.IntoFault, miss, never, p50, p95, mx, targetText(s), worstText(s), status)
	}
	fmt.Fprintf(&sb, "\n(fault: runs rolled back to a release live since the bad traffic began)\ntargets met on %d of %d shapes\n", met, len(r.Shapes))
	for _, s := range r.Shapes {
		if s.Tolerated > 0 {
			fmt.Fprintf(&sb, "%s: %d of %d runs rolled back an earlier bad release before the next one came (right, not counted as false)\n", s.Shape, s.Tolerated, s.Runs)
		}
	}
	first := true
	for _, s := range r.Shapes {
		if s.Met() || s.Worst == nil {
			continue
		}
		if first {
			sb.WriteString("\nWorst runs (write one out: relwatch sweep --shape SHAPE --seed N --out DIR; then relwatch replay DIR):\n")
			first = false
		}
		fmt.Fprintf(&sb, "  %s seed %d: %s\n", s.Shape, s.Worst.Seed, describe(s.Bad, *s.Worst))
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func seedText(seeds []uint64) string {
	if len(seeds) == 1 {
		return fmt.Sprintf("seed %d", seeds[0])
	}
	contiguous := true
	for i := 1; i < len(seeds); i++ {
		if seeds[i] != seeds[i-1]+1 {
			contiguous = false
		}
	}
	if contiguous {
		return fmt.Sprintf("seeds %d-%d", seeds[0], seeds[len(seeds)-1])
	}
	return fmt.Sprintf("%d seeds", len(seeds))
}

func targetText(s ShapeReport) string {
	if !s.Bad {
		return "0 false"
	}
	t := s.Targets
	parts := []string{"miss<=" + short(t.MaxDelay)}
	if t.P50 > 0 {
		parts = append(parts, "p50<="+short(t.P50))
	}
	if t.P95 > 0 {
		parts = append(parts, "p95<="+short(t.P95))
	}
	return strings.Join(parts, " ")
}

func short(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

func worstText(s ShapeReport) string {
	o := s.Worst
	switch {
	case o == nil:
		return "-"
	case len(o.False) > 0:
		return fmt.Sprintf("seed %d (false)", o.Seed)
	case !o.Caught:
		return fmt.Sprintf("seed %d (never)", o.Seed)
	}
	return fmt.Sprintf("seed %d (%ds)", o.Seed, o.DelayS)
}

// describe says what went wrong in a run.
func describe(bad bool, o Outcome) string {
	switch {
	case len(o.False) > 0:
		var parts []string
		for _, rb := range o.False {
			parts = append(parts, fmt.Sprintf("false %s: %s", rb, rb.Reason))
		}
		return strings.Join(parts, "; ")
	case bad && !o.Caught:
		if len(o.Rollbacks) == 0 {
			return "the bad release was never rolled back"
		}
		return fmt.Sprintf("the bad release was not rolled back to the release before it (%s)", o.Rollbacks[0])
	case bad:
		for _, rb := range o.Rollbacks {
			return fmt.Sprintf("rolled back %d s after the bad traffic began: %s", o.DelayS, rb.Reason)
		}
	}
	return "ok"
}

// Shapes describes the shapes, their targets and parameters, for --list.
func Shapes(w io.Writer, shapes []synth.Shape) error {
	var sb strings.Builder
	for _, s := range shapes {
		kind := "healthy: no rollback"
		if s.Bad {
			kind = "bad: " + targetText(ShapeReport{Bad: true, Targets: s.Targets})
		}
		fmt.Fprintf(&sb, "%s (%s)\n", s.Name, kind)
		for _, line := range strings.Split(s.Doc, "\n") {
			fmt.Fprintf(&sb, "    %s\n", line)
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// ShapesJSON lists shapes as sweep --list --format json prints them: one
// JSON list of {shape, bad, targets (in seconds, as the report's), doc}.
func ShapesJSON(w io.Writer, shapes []synth.Shape) error {
	type shapeOut struct {
		Shape   string        `json:"shape"`
		Bad     bool          `json:"bad"`
		Targets synth.Targets `json:"targets"`
		Doc     string        `json:"doc"`
	}
	out := make([]shapeOut, 0, len(shapes))
	for _, s := range shapes {
		out = append(out, shapeOut{s.Name, s.Bad, s.Targets, s.Doc})
	}
	return json.NewEncoder(w).Encode(out)
}
