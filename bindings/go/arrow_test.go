package doppel_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	doppel "github.com/doppel-synth/doppel/bindings/go"
)

// cStream is a zeroed struct ArrowArrayStream in C memory, freed (and released if still
// live) when the test ends.
func cStream(t *testing.T) unsafe.Pointer {
	t.Helper()
	p := doppel.NewCStream()
	if p == nil {
		t.Fatal("calloc failed")
	}
	t.Cleanup(func() { doppel.FreeCStream(p) })
	return p
}

// generateTable generates rows with seed into a fresh C stream and reads it back.
func generateTable(t *testing.T, model *doppel.Model, rows int, seed uint64) *doppel.StreamTable {
	t.Helper()
	stream := cStream(t)
	if err := model.GenerateArrow(rows, seed, stream); err != nil {
		t.Fatal(err)
	}
	table, err := doppel.ReadCStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	if !doppel.StreamReleased(stream) {
		t.Error("the stream is live after reading it to the end and releasing it")
	}
	return table
}

// expectTrainingColumns checks a table's columns and row count against the training CSV.
func expectTrainingColumns(t *testing.T, table *doppel.StreamTable, rows int64) {
	t.Helper()
	header, _ := readCSV(t, trainingCSV)
	if !reflect.DeepEqual(table.Columns, header) {
		t.Errorf("columns %v, want those of the training data %v", table.Columns, header)
	}
	if table.Rows != rows || int64(len(table.Values)) != rows {
		t.Errorf("%d rows (%d read), want %d", table.Rows, len(table.Values), rows)
	}
}

func TestGenerateArrow1000RowsAsInTheFile(t *testing.T) {
	model := sharedModel(t)
	table := generateTable(t, model, 1000, 7)
	expectTrainingColumns(t, table, 1000)
	// Integer columns are Int64 and text columns Utf8, as in the Parquet output.
	if got := strings.Join(table.Formats, ","); got != "l,u,u,u,l,u" {
		t.Errorf("column formats %s, want l,u,u,u,l,u (age and hours-per-week Int64, the rest Utf8)", got)
	}
	// The stream holds the rows Generate writes for the same seed.
	path := filepath.Join(t.TempDir(), "same-seed.csv")
	if err := model.Generate(1000, 7, path); err != nil {
		t.Fatal(err)
	}
	_, rows := readCSV(t, path)
	if len(rows) != 1000 {
		t.Fatalf("the file has %d rows, want 1000", len(rows))
	}
	for i, row := range rows {
		if i >= len(table.Values) {
			break
		}
		for c, v := range row {
			if !sameCell(table.Values[i][c], v) {
				t.Fatalf("row %d column %s: stream %#v, file %q", i, table.Columns[c], table.Values[i][c], v)
			}
		}
	}
}

// sameCell compares a stream value with the CSV's text of it. The CSV writes a missing value
// as the column's missing marker (that of the training data, e.g. "?"), the stream as a null.
func sameCell(stream any, file string) bool {
	switch v := stream.(type) {
	case nil:
		return file == "" || file == "?"
	case int64:
		return strconv.FormatInt(v, 10) == file
	case float64:
		f, err := strconv.ParseFloat(file, 64)
		return err == nil && f == v
	case string:
		return v == file
	}
	return false
}

func TestTrainArrowFromAGeneratedStream(t *testing.T) {
	input := cStream(t)
	if err := sharedModel(t).GenerateArrow(500, 3, input); err != nil {
		t.Fatal(err)
	}
	steps := 0
	model, err := doppel.TrainArrow(fastTrainingConfig(t), input, func(p doppel.Progress) bool {
		steps++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	// The library took the stream over: releasing it again (FreeCStream at cleanup) must do
	// nothing, which it does only if release is NULL.
	if !doppel.StreamReleased(input) {
		t.Error("TrainArrow left the stream live")
	}
	// 500 rows in batches of 64 for 2 epochs.
	if steps != 2*8 {
		t.Errorf("%d progress calls, want 16", steps)
	}
	expectTrainingColumns(t, generateTable(t, model, 100, 1), 100)
}

func TestArrowStreamOutlivesItsModel(t *testing.T) {
	model := ownModel(t)
	stream := cStream(t)
	if err := model.GenerateArrow(1000, 5, stream); err != nil {
		t.Fatal(err)
	}
	if err := model.Close(); err != nil {
		t.Fatal(err)
	}
	table, err := doppel.ReadCStream(stream)
	if err != nil {
		t.Fatalf("reading a stream after closing its model: %v", err)
	}
	expectTrainingColumns(t, table, 1000)
	late := cStream(t)
	err = model.GenerateArrow(10, 1, late)
	if !errors.Is(err, doppel.ErrClosed) || !strings.Contains(err.Error(), "Model.GenerateArrow") {
		t.Errorf("GenerateArrow after Close: %v", err)
	}
	if !doppel.StreamReleased(late) {
		t.Error("a closed model filled the stream")
	}
}

func TestArrowNilStreamIsNullParameter(t *testing.T) {
	model, err := doppel.TrainArrow(fastTrainingConfig(t), nil, nil)
	if model != nil {
		t.Error("a model came back with the error")
	}
	expectError(t, err, doppel.StatusNullParameter, doppel.ErrNullParameter, "stream")
	err = sharedModel(t).GenerateArrow(10, 1, nil)
	expectError(t, err, doppel.StatusNullParameter, doppel.ErrNullParameter, "out_stream")
}

func TestGenerateArrowNegativeRowsLeavesTheStream(t *testing.T) {
	stream := cStream(t)
	err := sharedModel(t).GenerateArrow(-1, 1, stream)
	expectError(t, err, doppel.StatusInvalidArgument, doppel.ErrInvalidArgument, "rows")
	if !doppel.StreamReleased(stream) {
		t.Error("a failed GenerateArrow filled the stream")
	}
}

func TestTrainArrowOnAReleasedStreamIsInvalidArgument(t *testing.T) {
	// A zeroed struct is, by Arrow's rules, a released stream.
	_, err := doppel.TrainArrow(fastTrainingConfig(t), cStream(t), nil)
	expectError(t, err, doppel.StatusInvalidArgument, doppel.ErrInvalidArgument, "already released")
}

func TestTrainArrowTakesTheStreamOverOnEveryError(t *testing.T) {
	closed := fastTrainingConfig(t)
	closed.Close()
	cases := []struct {
		name     string
		cfg      *doppel.Config
		progress func(doppel.Progress) bool
		want     error
	}{
		{"closed config", closed, nil, doppel.ErrClosed},
		{"nil config", nil, nil, doppel.ErrClosed},
		{"cancelled", fastTrainingConfig(t), func(doppel.Progress) bool { return false }, doppel.ErrCancelled},
	}
	for _, c := range cases {
		stream := cStream(t)
		if err := sharedModel(t).GenerateArrow(200, 1, stream); err != nil {
			t.Fatal(err)
		}
		model, err := doppel.TrainArrow(c.cfg, stream, c.progress)
		if model != nil || !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if !doppel.StreamReleased(stream) {
			t.Errorf("%s: the stream is still live, so the caller would have to release it", c.name)
		}
	}
}

func TestGenerateArrowIntoGoMemory(t *testing.T) {
	// A zeroed Go struct holds no Go pointers, so cgo's pointer check accepts it.
	stream := doppel.NewGoStream()
	defer doppel.ReleaseStream(stream)
	if err := sharedModel(t).GenerateArrow(300, 2, stream); err != nil {
		t.Fatal(err)
	}
	table, err := doppel.ReadCStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	expectTrainingColumns(t, table, 300)
}

func TestArrowStreamsOnEightGoroutines(t *testing.T) {
	model := sharedModel(t)
	const n = 8
	want := make([]*doppel.StreamTable, n)
	for i := range want {
		want[i] = generateTable(t, model, 300, uint64(i+1))
	}
	got := make([]*doppel.StreamTable, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stream := doppel.NewCStream()
			defer doppel.FreeCStream(stream)
			if errs[i] = model.GenerateArrow(300, uint64(i+1), stream); errs[i] == nil {
				got[i], errs[i] = doppel.ReadCStream(stream)
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("seed %d: the concurrent stream differs from the single-goroutine one", i+1)
		}
	}
	if reflect.DeepEqual(want[0].Values, want[1].Values) {
		t.Error(fmt.Sprintf("seeds 1 and 2 gave the same %d rows", len(want[0].Values)))
	}
}

func TestGenerateSteeredKeepsConditionsAndSeeds(t *testing.T) {
	model := sharedModel(t)
	// Conditions: every row satisfies them.
	out := cStream(t)
	opts := doppel.GenerateOptions{Rows: 300, Seed: 5, Where: "age >= 60 and sex = Female"}
	if err := model.GenerateSteeredArrow(opts, nil, out); err != nil {
		t.Fatal(err)
	}
	table, err := doppel.ReadCStream(out)
	if err != nil {
		t.Fatal(err)
	}
	expectTrainingColumns(t, table, 300)
	age, sex := column(t, table, "age"), column(t, table, "sex")
	for r, row := range table.Values {
		if a, ok := row[age].(int64); !ok || a < 60 || row[sex] != "Female" {
			t.Fatalf("row %d breaks the conditions: %v", r, row)
		}
	}

	// A seed with every column given comes out as it went in, one record per seed row; the
	// library takes the seed stream over.
	seed := cStream(t)
	if err := model.GenerateArrow(40, 9, seed); err != nil {
		t.Fatal(err)
	}
	out = cStream(t)
	if err := model.GenerateSteeredArrow(doppel.GenerateOptions{Rows: 7}, seed, out); err != nil {
		t.Fatal(err)
	}
	if !doppel.StreamReleased(seed) {
		t.Error("the seed stream is live after GenerateSteeredArrow")
	}
	seeded, err := doppel.ReadCStream(out)
	if err != nil {
		t.Fatal(err)
	}
	// A null in the seed (a missing value in the generated rows) means "generate this cell".
	want := generateTable(t, model, 40, 9)
	if len(seeded.Values) != len(want.Values) {
		t.Fatalf("%d seeded rows, want 40", len(seeded.Values))
	}
	for r, row := range want.Values {
		for c, cell := range row {
			if cell != nil && seeded.Values[r][c] != cell {
				t.Errorf("row %d column %d: seed %v came out as %v", r, c, cell, seeded.Values[r][c])
			}
		}
	}

	// Into a file, and an impossible condition named, with nothing written.
	path := filepath.Join(t.TempDir(), "old.csv")
	if err := model.GenerateSteered(doppel.GenerateOptions{Rows: 20, Seed: 1, Where: "age >= 60"}, nil, path); err != nil {
		t.Fatal(err)
	}
	_, rows := readCSV(t, path)
	if len(rows) != 20 {
		t.Errorf("%d rows, want 20", len(rows))
	}
	bad := filepath.Join(t.TempDir(), "never.csv")
	err = model.GenerateSteered(doppel.GenerateOptions{Rows: 20, Where: "sex = Robot"}, nil, bad)
	if !errors.Is(err, doppel.ErrInvalidConfig) || !strings.Contains(err.Error(), "Robot") {
		t.Errorf("an impossible condition: %v, want ErrInvalidConfig naming Robot", err)
	}
}

func TestImputeFillsOnlyMissingCells(t *testing.T) {
	model := sharedModel(t)
	table := cStream(t)
	if err := model.GenerateArrow(200, 4, table); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "imputed.csv")
	if err := model.Impute(doppel.GenerateOptions{Seed: 2}, table, 3, path); err != nil {
		t.Fatal(err)
	}
	if !doppel.StreamReleased(table) {
		t.Error("the table stream is live after Impute")
	}
	// The table's rows (the same seed gives the same rows): known cells kept, nulls filled.
	source := generateTable(t, model, 200, 4)
	_, rows := readCSV(t, path)
	if len(rows) != 200 {
		t.Fatalf("%d rows, want 200", len(rows))
	}
	filled := 0
	for r, row := range source.Values {
		for c, cell := range row {
			if cell != nil && !sameCell(cell, rows[r][c]) {
				t.Errorf("row %d column %d: %v changed to %q", r, c, cell, rows[r][c])
			}
			if cell == nil {
				filled++
				if sameCell(nil, rows[r][c]) {
					t.Errorf("row %d column %d: a null left missing (%q)", r, c, rows[r][c])
				}
			}
		}
	}
	if filled == 0 {
		t.Error("the table had no null to fill: the test checks nothing")
	}
	if err := model.Impute(doppel.GenerateOptions{}, nil, 0, path); !errors.Is(err, doppel.ErrInvalidArgument) {
		t.Errorf("draws 0: %v, want ErrInvalidArgument", err)
	}
}

// column is the index of the named column in table.
func column(t *testing.T, table *doppel.StreamTable, name string) int {
	t.Helper()
	for i, c := range table.Columns {
		if c == name {
			return i
		}
	}
	t.Fatalf("no column %q in %v", name, table.Columns)
	return -1
}

func TestGenerateFilteredDropsCopiesOfTrainingRows(t *testing.T) {
	model := sharedModel(t)
	// Stand-in training rows: 300 generated ones, as a stream and (the same rows) as CSV lines.
	training := cStream(t)
	if err := model.GenerateArrow(300, 5, training); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := model.Generate(300, 5, filepath.Join(dir, "training.csv")); err != nil {
		t.Fatal(err)
	}
	_, rows := readCSV(t, filepath.Join(dir, "training.csv"))
	isTraining := map[string]bool{}
	for _, row := range rows {
		isTraining[strings.Join(row, ",")] = true
	}
	copies := func(path string) (rows, copies int) {
		_, written := readCSV(t, path)
		for _, row := range written {
			if isTraining[strings.Join(row, ",")] {
				copies++
			}
		}
		return len(written), copies
	}
	// Unfiltered, the same options copy training rows: the check below can fail.
	opts := doppel.GenerateOptions{Rows: 300, Seed: 5}
	path := filepath.Join(dir, "filtered.csv")
	if err := model.GenerateSteered(opts, nil, path); err != nil {
		t.Fatal(err)
	}
	if n, c := copies(path); n != 300 || c == 0 {
		t.Fatalf("unfiltered: %d rows, %d copies; want 300 rows and some copies", n, c)
	}
	dropped, err := model.GenerateFiltered(opts, training, 0, path)
	if err != nil {
		t.Fatal(err)
	}
	if !doppel.StreamReleased(training) {
		t.Error("the training stream is live after GenerateFiltered")
	}
	if n, c := copies(path); n != 300 || c != 0 || dropped == 0 {
		t.Errorf("filtered: %d rows, %d copies, %d dropped; want 300 rows, no copy, some dropped", n, c, dropped)
	}

	// A distance outside [0, 1) and a DP model are refused, the stream taken over all the same.
	far := cStream(t)
	if err := model.GenerateArrow(10, 1, far); err != nil {
		t.Fatal(err)
	}
	_, err = model.GenerateFiltered(opts, far, 1.5, path)
	if !errors.Is(err, doppel.ErrInvalidConfig) || !strings.Contains(err.Error(), "distance") {
		t.Errorf("distance 1.5: %v, want ErrInvalidConfig naming the distance", err)
	}
	if !doppel.StreamReleased(far) {
		t.Error("the training stream is live after a refused GenerateFiltered")
	}
	cfg, err := doppel.ConfigFromJSON(`{"training": {"max_epochs": 1, "batch_size": 64},
		"privacy": {"dp": true, "noise_multiplier": 1.0}}`)
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	private, err := doppel.Train(cfg, trainingCSV, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer private.Close()
	far = cStream(t)
	if err := model.GenerateArrow(10, 1, far); err != nil {
		t.Fatal(err)
	}
	_, err = private.GenerateFiltered(opts, far, 0, path)
	if !errors.Is(err, doppel.ErrInvalidConfig) || !strings.Contains(err.Error(), "DP") {
		t.Errorf("a DP model: %v, want ErrInvalidConfig naming DP", err)
	}
	if !doppel.StreamReleased(far) {
		t.Error("the training stream is live after a DP model refused it")
	}
}
