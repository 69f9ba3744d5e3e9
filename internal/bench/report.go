package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Targets on the reference machine (issue 8); the table marks each figure against them.
const (
	TargetRatio      = 0.85
	TargetMBPerSec   = 50
	TargetP50Ms      = 5
	TargetP99Ms      = 25
	TargetEncodeMBps = 500
)

// WriteTable prints res as a human-readable table.
func WriteTable(w io.Writer, res *Result) error {
	fmt.Fprintf(w, "kafkaesm bench — %s, %d CPUs (%s)\n", res.Date, res.CPUs, res.Machine)
	fmt.Fprintf(w, "topic %s: %d partitions, %d records × %d bytes; BatchSize %d, window %ds; median of %d rounds\n\n",
		res.Topic, res.Partitions, res.Records, res.Size, res.BatchSize, res.Window, res.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "drain\trecords/s\tMB/s\tseconds\twith start-up\tbusy cores\tcore-s/GB\tof which this process\tfunction\trecords/invoke\t÷ raw\t÷ floor\t")
	row := func(name string, d Drain, target bool) {
		ratio, inv, floor, fn := "", "", "", ""
		if d.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", d.Ratio)
			if target {
				ratio += mark(d.Ratio >= TargetRatio)
			}
		}
		if d.FloorRatio > 0 {
			floor = fmt.Sprintf("%.2f", d.FloorRatio)
		}
		if d.FunctionCPUSecondsPerGB > 0 {
			fn = fmt.Sprintf("%.2f", d.FunctionCPUSecondsPerGB)
		}
		if d.RecordsPerInvoke > 0 {
			inv = fmt.Sprintf("%.0f", d.RecordsPerInvoke)
		}
		mbs := fmt.Sprintf("%.1f", d.MBPerSec)
		if target {
			mbs += mark(d.MBPerSec >= TargetMBPerSec)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t\n", name, d.RecordsPerSec, mbs, d.Seconds, d.TotalSeconds,
			d.CPUCores, d.CPUSecondsPerGB, d.ProcessCPUSecondsPerGB, fn, inv, ratio, floor)
	}
	row("produce", res.Produce, false)
	row("raw franz-go consumer", res.Raw, false)
	row("raw consumer + encoding", res.RawEncode, false)
	row("raw + encoding + HTTP delivery (floor)", res.RawDeliver, false)
	row("kafkaesm → Runtime API fn", res.RuntimeAPI, true)
	row("kafkaesm → HTTP target", res.HTTP, true)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nproduce→invoke latency at %d records/s, window 0\n", res.LatencyRate)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trecords\tp50 ms\tp99 ms\tmax ms\tcold starts\t")
	for _, l := range []struct {
		name string
		l    Latency
	}{{"raw franz-go consumer", res.LatencyRaw}, {"kafkaesm → Runtime API fn", res.LatencyRuntimeAPI}, {"kafkaesm → HTTP target", res.LatencyHTTP}} {
		fmt.Fprintf(tw, "%s\t%d\t%.2f%s\t%.2f%s\t%.2f\t%d\t\n", l.name, l.l.Records,
			l.l.P50Ms, mark(l.l.P50Ms <= TargetP50Ms), l.l.P99Ms, mark(l.l.P99Ms <= TargetP99Ms), l.l.MaxMs, l.l.ColdStarts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	e := res.Encoding
	_, err := fmt.Fprintf(w, "\npayload encoding: %.0f MB/s in%s (%.0f MB/s of JSON out), %.0f ns, %.3f allocs and %.1f bytes allocated per record\n",
		e.MBPerSec, mark(e.MBPerSec >= TargetEncodeMBps), e.PayloadMBPerSec, e.NanosPerRecord, e.AllocsPerRecord, e.BytesPerRecord)
	return err
}

// mark flags a figure that misses its target.
func mark(ok bool) string {
	if ok {
		return ""
	}
	return " (!)"
}
