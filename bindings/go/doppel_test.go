package doppel_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	doppel "github.com/doppel-synth/doppel/bindings/go"
)

const fastConfig = `{"training": {"max_epochs": 2, "batch_size": 64}}`

var trainingCSV = filepath.Join("..", "..", "tests", "data", "adult_small.csv")

var shared struct {
	once  sync.Once
	model *doppel.Model
	err   error
}

// sharedModel trains the small CSV once for every test that only reads a model.
func sharedModel(t *testing.T) *doppel.Model {
	t.Helper()
	shared.once.Do(func() {
		cfg, err := doppel.ConfigFromJSON(fastConfig)
		if err != nil {
			shared.err = err
			return
		}
		defer cfg.Close()
		shared.model, shared.err = doppel.Train(cfg, trainingCSV, nil)
	})
	if shared.err != nil {
		t.Fatalf("training the shared model: %v", shared.err)
	}
	return shared.model
}

// ownModel is a private copy of the shared model, for tests that close it.
func ownModel(t *testing.T) *doppel.Model {
	t.Helper()
	data, err := sharedModel(t).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m, err := doppel.ModelFromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fastTrainingConfig(t *testing.T) *doppel.Config {
	t.Helper()
	cfg, err := doppel.ConfigFromJSON(fastConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg
}

// readCSV returns a CSV file's header and data rows.
func readCSV(t *testing.T, path string) ([]string, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(records) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return records[0], records[1:]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// expectError checks that err is a library *Error with this status whose message contains
// want, and that errors.Is matches the status's sentinel.
func expectError(t *testing.T, err error, status doppel.Status, sentinel error, want string) {
	t.Helper()
	var e *doppel.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *doppel.Error with status %v, got %v", status, err)
	}
	if e.Status != status {
		t.Errorf("status %v, want %v (message %q)", e.Status, status, e.Message)
	}
	if !strings.Contains(e.Message, want) {
		t.Errorf("message %q does not contain %q", e.Message, want)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("errors.Is(%v, %v) is false", err, sentinel)
	}
}

func TestVersionAndBuildInfo(t *testing.T) {
	version := doppel.Version()
	if version == "" {
		t.Fatal("empty version")
	}
	info, err := doppel.BuildInfo()
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Version string `json:"version"`
		Cuda    *bool  `json:"cuda"`
	}
	if err := json.Unmarshal([]byte(info), &parsed); err != nil {
		t.Fatalf("build info %q: %v", info, err)
	}
	if parsed.Version != version || parsed.Cuda == nil {
		t.Errorf("build info %q: want version %q and a cuda flag", info, version)
	}
}

func TestDefaultConfigAndDoubleClose(t *testing.T) {
	cfg, err := doppel.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBadConfigKeyIsInvalidConfigNamingTheKey(t *testing.T) {
	cfg, err := doppel.ConfigFromJSON(`{"trainin": {}}`)
	if cfg != nil {
		t.Error("a config came back with the error")
	}
	expectError(t, err, doppel.StatusInvalidConfig, doppel.ErrInvalidConfig, "trainin")
	if errors.Is(err, doppel.ErrIO) {
		t.Error("an invalid config matches ErrIO")
	}
}

func TestNULByteIsInvalidArgument(t *testing.T) {
	_, err := doppel.ConfigFromJSON("{}\x00")
	expectError(t, err, doppel.StatusInvalidArgument, doppel.ErrInvalidArgument, "json")
	_, err = doppel.LoadModel("a\x00b.doppel")
	expectError(t, err, doppel.StatusInvalidArgument, doppel.ErrInvalidArgument, "path")
}

func TestMissingFileIsIOErrorNamingTheFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.csv")
	model, err := doppel.Train(fastTrainingConfig(t), missing, nil)
	if model != nil {
		t.Error("a model came back with the error")
	}
	expectError(t, err, doppel.StatusIO, doppel.ErrIO, "missing.csv")
	if !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("Error() %q does not name the file", err.Error())
	}
}

func TestErrorMessagesStayWithTheirGoroutine(t *testing.T) {
	// Each goroutine's message must name its own file, although the library keeps the last
	// message per OS thread and a goroutine that has waited in C may resume on another thread.
	// More goroutines than threads and calls that last (the report reads the real table before
	// it fails on the missing one) make such moves common.
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("absent-%d.csv", i)
			for j := 0; j < 10; j++ {
				_, err := doppel.ReportJSON(trainingCSV, filepath.Join(dir, name), "", "")
				var e *doppel.Error
				if !errors.As(err, &e) || !strings.Contains(e.Message, name) {
					errs[i] = fmt.Errorf("goroutine %d got %v", i, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestTrainAndGenerate1000Rows(t *testing.T) {
	out := filepath.Join(t.TempDir(), "synthetic.csv")
	if err := sharedModel(t).Generate(1000, 7, out); err != nil {
		t.Fatal(err)
	}
	realHeader, realRows := readCSV(t, trainingCSV)
	header, rows := readCSV(t, out)
	if strings.Join(header, ",") != "age,workclass,education,sex,hours-per-week,income-per-year" ||
		strings.Join(header, ",") != strings.Join(realHeader, ",") {
		t.Errorf("columns %v, want those of the training data %v", header, realHeader)
	}
	if len(rows) != 1000 {
		t.Errorf("%d rows, want 1000", len(rows))
	}
	// A categorical column without rare values only takes values seen in training.
	seen := map[string]bool{}
	for _, r := range realRows {
		seen[r[3]] = true
	}
	for i, r := range rows {
		if len(r) != 6 || !seen[r[3]] {
			t.Fatalf("row %d %v: sex %q is not a training value", i, r, r[3])
		}
	}
}

func TestNegativeRowsIsInvalidArgument(t *testing.T) {
	err := sharedModel(t).Generate(-1, 1, filepath.Join(t.TempDir(), "s.csv"))
	expectError(t, err, doppel.StatusInvalidArgument, doppel.ErrInvalidArgument, "rows")
}

func TestSaveAndLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.doppel")
	if err := sharedModel(t).Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := doppel.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	assertSameOutput(t, sharedModel(t), loaded)
}

func TestBytesRoundTrip(t *testing.T) {
	data, err := sharedModel(t).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		t.Fatal("empty model bytes")
	}
	copied, err := doppel.ModelFromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	assertSameOutput(t, sharedModel(t), copied)
}

// assertSameOutput checks that two models generate the same rows for one seed.
func assertSameOutput(t *testing.T, a, b *doppel.Model) {
	t.Helper()
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	if err := a.Generate(200, 11, pa); err != nil {
		t.Fatal(err)
	}
	if err := b.Generate(200, 11, pb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, pa), readFile(t, pb)) {
		t.Error("the reloaded model generates other rows for the same seed")
	}
}

func TestInvalidModelIsInvalidModel(t *testing.T) {
	_, err := doppel.ModelFromBytes([]byte("not a doppel model"))
	expectError(t, err, doppel.StatusInvalidModel, doppel.ErrInvalidModel, "")
	_, err = doppel.ModelFromBytes(nil)
	expectError(t, err, doppel.StatusInvalidModel, doppel.ErrInvalidModel, "")
	_, err = doppel.LoadModel(trainingCSV)
	expectError(t, err, doppel.StatusInvalidModel, doppel.ErrInvalidModel, "adult_small.csv")
}

func TestPrivacyNoiseInvertsEpsilon(t *testing.T) {
	for _, acct := range []doppel.Accountant{doppel.AccountantRDP, doppel.AccountantPRV} {
		epsilon, err := doppel.PrivacyEpsilon(acct, 0.01, 1.0, 1000, 1e-5)
		if err != nil {
			t.Fatalf("accountant %d: %v", acct, err)
		}
		if !(epsilon > 0 && epsilon < 100) {
			t.Errorf("accountant %d: epsilon %v", acct, epsilon)
		}
		louder, err := doppel.PrivacyEpsilon(acct, 0.01, 2.0, 1000, 1e-5)
		if err != nil || !(louder < epsilon) {
			t.Errorf("accountant %d: more noise gives epsilon %v (err %v), want below %v", acct, louder, err, epsilon)
		}
		sigma, err := doppel.PrivacyNoise(acct, epsilon, 1e-5, 0.01, 1000)
		if err != nil {
			t.Fatalf("accountant %d: %v", acct, err)
		}
		if math.Abs(sigma-1.0) > 1e-3 {
			t.Errorf("accountant %d: noise for epsilon %v is %v, want 1", acct, epsilon, sigma)
		}
	}
}

func TestPrivacyBadSamplingRateIsNamed(t *testing.T) {
	_, err := doppel.PrivacyEpsilon(doppel.AccountantPRV, 1.5, 1.0, 10, 1e-5)
	expectError(t, err, doppel.StatusInvalidArgument, doppel.ErrInvalidArgument, "sampling_rate")
}

func TestProgressCallbackReportsEverySteps(t *testing.T) {
	var seen []doppel.Progress
	model, err := doppel.Train(fastTrainingConfig(t), trainingCSV, func(p doppel.Progress) bool {
		seen = append(seen, p)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	if len(seen) < 2 {
		t.Fatalf("%d progress calls, want one per step", len(seen))
	}
	for i, p := range seen {
		if p.Epoch < 1 || p.Epoch > 2 || p.Step < 1 || p.Step > p.StepsPerEpoch {
			t.Errorf("call %d: %+v out of range", i, p)
		}
		if math.IsNaN(p.Loss) || math.IsInf(p.Loss, 0) || p.Loss <= 0 {
			t.Errorf("call %d: loss %v", i, p.Loss)
		}
		if p.Epsilon >= 0 {
			t.Errorf("call %d: epsilon %v without DP, want negative", i, p.Epsilon)
		}
	}
	if last := seen[len(seen)-1]; last.Epoch != 2 || last.Step != last.StepsPerEpoch {
		t.Errorf("last progress %+v, want the end of epoch 2", last)
	}
}

func TestProgressReportsEpsilonUnderDP(t *testing.T) {
	cfg, err := doppel.ConfigFromJSON(`{"training": {"max_epochs": 2, "batch_size": 64},
		"privacy": {"dp": true, "noise_multiplier": 1.0}}`)
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	// The library accounts once per epoch: epsilon is updated on an epoch's last step.
	var spent []float64
	model, err := doppel.Train(cfg, trainingCSV, func(p doppel.Progress) bool {
		if p.Step == p.StepsPerEpoch {
			spent = append(spent, p.Epsilon)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	if len(spent) != 2 || !(spent[0] > 0 && spent[1] > spent[0]) {
		t.Errorf("epsilon at the end of each epoch %v, want two positive, growing values", spent)
	}
}

func TestProgressFalseCancelsTraining(t *testing.T) {
	calls := 0
	model, err := doppel.Train(fastTrainingConfig(t), trainingCSV, func(doppel.Progress) bool {
		calls++
		return false
	})
	if model != nil {
		t.Error("a model came back from a cancelled training")
	}
	if !errors.Is(err, doppel.ErrCancelled) {
		t.Fatalf("want ErrCancelled, got %v", err)
	}
	expectError(t, err, doppel.StatusCancelled, doppel.ErrCancelled, "")
	if calls != 1 {
		t.Errorf("progress called %d times after cancelling, want once", calls)
	}
}

func TestProgressPanicIsRaisedFromTrain(t *testing.T) {
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the callback's panic", r)
		}
	}()
	doppel.Train(fastTrainingConfig(t), trainingCSV, func(doppel.Progress) bool { panic("boom") })
	t.Error("Train returned after its progress function panicked")
}

func TestEightGoroutinesGenerateAsOne(t *testing.T) {
	model := sharedModel(t)
	dir := t.TempDir()
	const n = 8
	// One goroutine first: the reference output of each seed.
	want := make([][]byte, n)
	for i := range want {
		path := filepath.Join(dir, fmt.Sprintf("one-%d.csv", i))
		if err := model.Generate(300, uint64(i+1), path); err != nil {
			t.Fatal(err)
		}
		want[i] = readFile(t, path)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = model.Generate(300, uint64(i+1), filepath.Join(dir, fmt.Sprintf("many-%d.csv", i)))
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if !bytes.Equal(readFile(t, filepath.Join(dir, fmt.Sprintf("many-%d.csv", i))), want[i]) {
			t.Errorf("seed %d: concurrent output differs from the single-goroutine output", i+1)
		}
	}
	if bytes.Equal(want[0], want[1]) {
		t.Error("different seeds gave the same rows")
	}
}

func TestReportJSON(t *testing.T) {
	synthetic := filepath.Join(t.TempDir(), "synthetic.csv")
	if err := sharedModel(t).Generate(500, 3, synthetic); err != nil {
		t.Fatal(err)
	}
	report, err := doppel.ReportJSON(trainingCSV, synthetic, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal([]byte(report), &parsed); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	if parsed["format"] != "doppel-report" {
		t.Errorf("format %v, want doppel-report", parsed["format"])
	}
	_, err = doppel.ReportJSON(trainingCSV, filepath.Join(t.TempDir(), "gone.csv"), "", "")
	expectError(t, err, doppel.StatusIO, doppel.ErrIO, "gone.csv")
}

func TestClosedModelGivesErrClosed(t *testing.T) {
	model := ownModel(t)
	if err := model.Close(); err != nil {
		t.Fatal(err)
	}
	if err := model.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	dir := t.TempDir()
	err := model.Generate(10, 1, filepath.Join(dir, "s.csv"))
	if !errors.Is(err, doppel.ErrClosed) || !strings.Contains(err.Error(), "Model.Generate") {
		t.Errorf("Generate after Close: %v", err)
	}
	if err := model.Save(filepath.Join(dir, "m.doppel")); !errors.Is(err, doppel.ErrClosed) {
		t.Errorf("Save after Close: %v", err)
	}
	if data, err := model.Bytes(); !errors.Is(err, doppel.ErrClosed) || data != nil {
		t.Errorf("Bytes after Close: %v", err)
	}
	var none *doppel.Model
	if err := none.Generate(10, 1, filepath.Join(dir, "s.csv")); !errors.Is(err, doppel.ErrClosed) {
		t.Errorf("Generate on a nil model: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.csv")); !os.IsNotExist(err) {
		t.Error("a closed model wrote a file")
	}
}

func TestClosedConfigGivesErrClosed(t *testing.T) {
	cfg := fastTrainingConfig(t)
	cfg.Close()
	model, err := doppel.Train(cfg, trainingCSV, nil)
	if model != nil || !errors.Is(err, doppel.ErrClosed) || !strings.Contains(err.Error(), "Train") {
		t.Errorf("Train with a closed config: %v", err)
	}
	if _, err := doppel.Train(nil, trainingCSV, nil); !errors.Is(err, doppel.ErrClosed) {
		t.Errorf("Train with a nil config: %v", err)
	}
}

func TestCloseFromTheProgressFunctionDoesNotDeadlock(t *testing.T) {
	cfg, err := doppel.ConfigFromJSON(fastConfig)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	done := make(chan error, 1)
	go func() {
		model, err := doppel.Train(cfg, trainingCSV, func(doppel.Progress) bool {
			calls++
			// Closing the configuration that is training, and starting a nested use of it,
			// must neither block nor pull it from under the training in flight.
			if calls == 1 {
				if err := cfg.Close(); err != nil {
					t.Errorf("Close from progress: %v", err)
				}
				if _, err := doppel.Train(cfg, trainingCSV, nil); !errors.Is(err, doppel.ErrClosed) {
					t.Errorf("nested Train on a closed config: %v, want ErrClosed", err)
				}
			}
			return true
		})
		if err == nil {
			model.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("training with its config closed from progress: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("Train is stuck after Close from its progress function")
	}
	if calls < 2 {
		t.Errorf("progress called %d times, want training to go on after Close", calls)
	}
}

func TestCloseDuringGenerationLetsCallsInFlightFinish(t *testing.T) {
	// Calls in flight when Close runs must finish with the model they started with. A
	// goroutine may not have entered the library yet when Close runs (then it finds the model
	// closed), so try longer head starts until at least one call was in flight.
	for _, delay := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, time.Second} {
		if closeDuringGeneration(t, delay) > 0 {
			return
		}
	}
	t.Error("no generation was in flight when Close ran")
}

// closeDuringGeneration starts four generations, closes the model after delay and checks
// that each call either completed its file or found the model closed. It returns how many
// completed.
func closeDuringGeneration(t *testing.T, delay time.Duration) int {
	model := ownModel(t)
	dir := t.TempDir()
	const n, rows = 4, 5000
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = model.Generate(rows, uint64(i), filepath.Join(dir, fmt.Sprintf("s%d.csv", i)))
		}(i)
	}
	time.Sleep(delay)
	if err := model.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	completed := 0
	for i, err := range errs {
		path := filepath.Join(dir, fmt.Sprintf("s%d.csv", i))
		switch {
		case err == nil:
			completed++
			if _, got := readCSV(t, path); len(got) != rows {
				t.Errorf("goroutine %d: %d rows, want %d", i, len(got), rows)
			}
		case errors.Is(err, doppel.ErrClosed):
			if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
				t.Errorf("goroutine %d: closed, yet %s exists", i, path)
			}
		default:
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if err := model.Generate(1, 1, filepath.Join(dir, "late.csv")); !errors.Is(err, doppel.ErrClosed) {
		t.Errorf("Generate after Close: %v", err)
	}
	return completed
}
