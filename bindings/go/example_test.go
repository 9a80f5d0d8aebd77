package doppel_test

import (
	"fmt"
	"log"

	doppel "github.com/doppel-synth/doppel/bindings/go"
)

// Train on a CSV file, keep the model and generate synthetic rows. (No fixed output: the
// library's version and timing vary.)
func Example() {
	cfg, err := doppel.ConfigFromJSON(`{"training": {"max_epochs": 2}}`)
	if err != nil {
		log.Fatal(err)
	}
	defer cfg.Close()
	model, err := doppel.Train(cfg, "adult.csv", func(p doppel.Progress) bool {
		fmt.Printf("epoch %d step %d/%d loss %.3f\n", p.Epoch, p.Step, p.StepsPerEpoch, p.Loss)
		return true // false cancels: Train then fails with doppel.ErrCancelled
	})
	if err != nil {
		log.Fatal(err) // e.g. "doppel: i/o error: ... adult.csv ..."
	}
	defer model.Close()
	if err := model.Save("adult.doppel"); err != nil {
		log.Fatal(err)
	}
	if err := model.Generate(1000, 42, "synthetic.csv"); err != nil {
		log.Fatal(err)
	}
	report, err := doppel.ReportJSON("adult.csv", "synthetic.csv", "", "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(report) > 0)
}
