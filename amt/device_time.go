package amt

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/amtkit/amtkit/wsman"
)

// minClientTime is the earliest time AMT accepts as Tm1 and Tm2: 2004-01-01
// 00:00:00 UTC in Unix seconds.
const minClientTime = 1072915200

// LowAccuracyTimeSynch calls
// AMT_TimeSynchronizationService.GetLowAccuracyTimeSynch and returns the
// device clock (Ta0, whole seconds, UTC).
func (d *Device) LowAccuracyTimeSynch(ctx context.Context) (time.Time, error) {
	const method = "GetLowAccuracyTimeSynch"
	out, err := d.invoke(ctx, URITimeSynchronizationService, method, nil)
	if err != nil {
		return time.Time{}, err
	}
	ta0, err := parseUint32Output(out, "Ta0")
	if err != nil {
		return time.Time{}, opError(URITimeSynchronizationService, method, err)
	}
	return time.Unix(int64(ta0), 0).UTC(), nil
}

// unixSeconds writes t as a uint32 of Unix seconds, rounded to the nearest
// second as RPS (syncTime.ts) and MeshCentral (attemptSyncClockEx) round it
// (rpc-go truncates); min is the earliest value allowed.
func unixSeconds(name string, t time.Time, min int64) (string, error) {
	t = t.Round(time.Second)
	if u := t.Unix(); u < min || u > math.MaxUint32 {
		return "", fmt.Errorf("%w: %s %s is outside %s … 2106-02-07", ErrInvalidArgument, name,
			t.UTC().Format(time.RFC3339), time.Unix(min, 0).UTC().Format(time.DateOnly))
	}
	return strconv.FormatInt(t.Unix(), 10), nil
}

// SetHighAccuracyTimeSynch calls SetHighAccuracyTimeSynch: ta0 is the value
// [Device.LowAccuracyTimeSynch] returned (a device whose clock was lost may
// report a time before 2004; it is sent as read), tm1 the client's time when
// that reply arrived, tm2 the client's time just before this call (rounded
// to whole seconds, after 2004-01-01). 36 (StatusInvalidParameter) is the device refusing the
// values.
func (d *Device) SetHighAccuracyTimeSynch(ctx context.Context, ta0, tm1, tm2 time.Time) error {
	const method = "SetHighAccuracyTimeSynch"
	var ps []wsman.Property
	for _, v := range []struct {
		name string
		t    time.Time
		min  int64
	}{{"Ta0", ta0, 0}, {"Tm1", tm1, minClientTime}, {"Tm2", tm2, minClientTime}} {
		s, err := unixSeconds(v.name, v.t, v.min)
		if err != nil {
			return opError(URITimeSynchronizationService, method, err)
		}
		ps = append(ps, wsman.Prop(v.name, s))
	}
	_, err := d.invoke(ctx, URITimeSynchronizationService, method, nil, ps...)
	return err
}

// SyncClock sets the device clock to now(): it reads the device time, then
// calls SetHighAccuracyTimeSynch with that Ta0 and Tm1 = Tm2 = now() taken once
// after the reply arrived, as MeshCentral and rpc-go do (RPS reads its clock
// again for Tm2, just before the call). now nil means time.Now.
// It returns the device time read before the change, so callers can log the
// drift. Set the clock before binding certificates: a wrong clock makes a new
// certificate "not yet valid".
func (d *Device) SyncClock(ctx context.Context, now func() time.Time) (before time.Time, err error) {
	if now == nil {
		now = time.Now
	}
	ta0, err := d.LowAccuracyTimeSynch(ctx)
	if err != nil {
		return time.Time{}, err
	}
	t := now()
	return ta0, d.SetHighAccuracyTimeSynch(ctx, ta0, t, t)
}
