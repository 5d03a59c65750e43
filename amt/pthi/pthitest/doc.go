// Package pthitest provides an in-memory PTHI transport that replays recorded
// exchanges strictly, for tests and runnable examples of code that drives
// [pthi.Client] (agents, the provisioning engine's host-based activation).
//
// A [Replay] holds a script of exchanges. Each Send must carry exactly the next
// recorded request, byte for byte; it then returns the recorded response (or
// error). A request that differs, a Send after the script ends, and a script with
// exchanges left when [Replay.Done] is called are all errors, so a test fails when
// the code under test sends anything other than what was recorded.
package pthitest
