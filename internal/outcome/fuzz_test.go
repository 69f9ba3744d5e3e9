package outcome

import "testing"

// FuzzParseItemFailures: any function response is parsed without a panic, and the checkpoint
// is within the batch (a malformed response fails the whole batch: checkpoint 0).
func FuzzParseItemFailures(f *testing.F) {
	f.Add([]byte(`{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":5}}]}`))
	f.Add([]byte(`{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":"6"}},{"itemIdentifier":null}]}`))
	f.Add([]byte(`{"batchItemFailures":null}`))
	f.Add([]byte(`[1,2]`))
	offsets := []int64{4, 5, 6, 9}
	f.Fuzz(func(t *testing.T, resp []byte) {
		r := ParseItemFailures(resp, "t-0", offsets)
		if r.FailedAt < 0 || r.FailedAt > len(offsets) || (r.Invalid && r.FailedAt != 0) {
			t.Fatalf("ParseItemFailures(%q) = %+v", resp, r)
		}
	})
}
