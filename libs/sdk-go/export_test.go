package chute

import "time"

// SetRegisterTimeout shortens how long a worker waits for registered, so a
// test of a silent gateway does not wait the real 10 seconds.
func SetRegisterTimeout(w *Worker, d time.Duration) { w.registerTimeout = d }
