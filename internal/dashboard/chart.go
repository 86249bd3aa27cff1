package dashboard

import (
	"fmt"
	"strconv"
	"time"
)

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW     = 640
	chartH     = 180
	plotLeft   = 44
	plotRight  = 632
	plotTop    = 10
	plotBottom = 150
)

// chart is an inline SVG chart of one value per minute over the window,
// drawn server-side: stacked bars and an optional line.
type chart struct {
	ID      string // prefix of the ids of its title and description
	Title   string
	Desc    string // the text summary, also the SVG's <desc>
	W, H    int
	Legend  []legend
	Grid    []gridLine
	XLabels []xLabel
	Bars    []bar
	Line    string // polyline points, "" for none
	LineCls string
	Table   chartTable
}

type legend struct {
	Name, Class string
	Total       uint64
}

type gridLine struct {
	Y     float64
	Label string
	X1    float64
	X2    float64
	LX    float64 // label x
}

type xLabel struct {
	X      float64
	Y      float64
	Text   string
	Anchor string
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Tip        string // the bar's <title>: minute and value
}

type chartTable struct {
	Head []string
	Rows [][]string
}

// segment is one stacked series of a bar chart.
type segment struct {
	Name, Class string
	Values      [buckets]uint64
}

// niceMax rounds n up to 1, 2 or 5 times a power of ten (at least 1).
func niceMax(n uint64) uint64 {
	if n <= 1 {
		return 1
	}
	for p := uint64(1); ; p *= 10 {
		for _, m := range []uint64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

func f1(x float64) float64 { return float64(int(x*10+0.5)) / 10 }

// minuteLabel is the UTC time of minute i of the window ending at now.
func minuteLabel(now time.Time, i int) string {
	return now.UTC().Truncate(time.Minute).Add(time.Duration(i-buckets+1) * time.Minute).Format("15:04")
}

// newChart draws stacked bars for segs and, when line is not nil, a line.
func newChart(id, title, unit string, now time.Time, segs []segment, line *segment) chart {
	c := chart{ID: id, Title: title, W: chartW, H: chartH}
	var top uint64
	for i := range buckets {
		var sum uint64
		for _, s := range segs {
			sum += s.Values[i]
		}
		top = max(top, sum)
		if line != nil {
			top = max(top, line.Values[i])
		}
	}
	ymax := niceMax(top)
	scale := float64(plotBottom-plotTop) / float64(ymax)
	slot := float64(plotRight-plotLeft) / buckets
	for _, v := range []uint64{0, ymax / 2, ymax} {
		if v == 0 && len(c.Grid) > 0 {
			continue // ymax 1: no half line
		}
		c.Grid = append(c.Grid, gridLine{Y: f1(plotBottom - float64(v)*scale), Label: strconv.FormatUint(v, 10),
			X1: plotLeft, X2: plotRight, LX: plotLeft - 6})
	}
	for _, i := range []int{0, 15, 30, 45, buckets - 1} {
		l := xLabel{X: f1(plotLeft + slot*(float64(i)+0.5)), Y: plotBottom + 18, Text: minuteLabel(now, i), Anchor: "middle"}
		if i == buckets-1 {
			l.Anchor, l.X = "end", plotRight
		}
		c.XLabels = append(c.XLabels, l)
	}
	for _, s := range segs {
		lg := legend{Name: s.Name, Class: s.Class}
		for _, v := range s.Values {
			lg.Total += v
		}
		c.Legend = append(c.Legend, lg)
	}
	for i := range buckets {
		y := float64(plotBottom)
		for _, s := range segs {
			v := s.Values[i]
			if v == 0 {
				continue
			}
			h := float64(v) * scale
			y -= h
			c.Bars = append(c.Bars, bar{X: f1(plotLeft + slot*float64(i) + slot*0.1), Y: f1(y), W: f1(slot * 0.8), H: f1(h),
				Class: s.Class, Tip: fmt.Sprintf("%s UTC: %d %s %s", minuteLabel(now, i), v, s.Name, unit)})
		}
	}
	if line != nil {
		lg := legend{Name: line.Name, Class: line.Class}
		pts := make([]byte, 0, buckets*12)
		for i, v := range line.Values {
			lg.Total += v
			if i > 0 {
				pts = append(pts, ' ')
			}
			pts = fmt.Appendf(pts, "%g,%g", f1(plotLeft+slot*(float64(i)+0.5)), f1(plotBottom-float64(v)*scale))
		}
		c.Legend = append(c.Legend, lg)
		c.Line, c.LineCls = string(pts), line.Class
	}

	// The same numbers as text: a summary and a table per minute.
	c.Table.Head = []string{"Minute (UTC)"}
	all := segs
	if line != nil {
		all = append(all[:len(all):len(all)], *line)
	}
	for _, s := range all {
		c.Table.Head = append(c.Table.Head, s.Name)
	}
	for i := buckets - 1; i >= 0; i-- {
		row := []string{minuteLabel(now, i)}
		for _, s := range all {
			row = append(row, strconv.FormatUint(s.Values[i], 10))
		}
		c.Table.Rows = append(c.Table.Rows, row)
	}
	desc := ""
	for i, l := range c.Legend {
		if i > 0 {
			desc += ", "
		}
		desc += fmt.Sprintf("%d %s", l.Total, l.Name)
	}
	c.Desc = fmt.Sprintf("Last 60 minutes, %s to %s UTC, per minute: %s in all; busiest minute %d.",
		minuteLabel(now, 0), minuteLabel(now, buckets-1), desc, top)
	return c
}
