package doppel

// #include <stdlib.h>
// #include "doppel.h"
import "C"

// ReportJSON scores a synthetic table against the real one and returns the quality and
// privacy report as JSON (the format of `doppel report --json`, see docs/report.md). The
// files are CSV, Parquet or Arrow IPC. holdout (real rows not used in training) and
// optionsJSON (ReportOptions fields) may be empty to leave them out.
func ReportJSON(real, synthetic, holdout, optionsJSON string) (string, error) {
	var args [4]*C.char
	defer func() {
		for _, s := range args {
			freeCString(s)
		}
	}()
	var err error
	if args[0], err = cString("real", real); err != nil {
		return "", err
	}
	if args[1], err = cString("synthetic", synthetic); err != nil {
		return "", err
	}
	if args[2], err = optionalCString("holdout", holdout); err != nil {
		return "", err
	}
	if args[3], err = optionalCString("optionsJSON", optionsJSON); err != nil {
		return "", err
	}
	var out *C.char
	err = call(func() C.enum_DoppelStatus {
		return C.doppel_report_json(args[0], args[1], args[2], args[3], &out)
	})
	if err != nil {
		return "", err
	}
	return takeString(out), nil
}
