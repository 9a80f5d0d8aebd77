package doppel

// The Arrow C stream helpers of arrowtest.go, for the tests in package doppel_test.
var (
	NewCStream     = newCStream
	NewGoStream    = newGoStream
	FreeCStream    = freeCStream
	ReleaseStream  = releaseStream
	StreamReleased = streamReleased
	ReadCStream    = readCStream
)

// StreamTable is what ReadCStream found in a stream.
type StreamTable = streamTable
