package doppel

// #include "doppel.h"
import "C"

// Accountant picks the differential-privacy accountant of the privacy calculator; the
// values mirror DoppelAccountant in doppel.h.
type Accountant int

const (
	// AccountantPRV is the privacy-random-variable accountant (Gopi, Lee, Wutschitz 2021):
	// tight, with an error bound.
	AccountantPRV Accountant = C.DOPPEL_ACCOUNTANT_PRV
	// AccountantRDP is Rényi DP of the subsampled Gaussian (Mironov, Talwar, Zhang 2019).
	AccountantRDP Accountant = C.DOPPEL_ACCOUNTANT_RDP
)

// PrivacyEpsilon is the epsilon spent by steps Poisson-subsampled Gaussian steps with the
// given sampling rate and noise multiplier, at delta. An argument out of range gives
// ErrInvalidArgument naming it.
func PrivacyEpsilon(acct Accountant, samplingRate, noiseMultiplier float64, steps uint64, delta float64) (float64, error) {
	var out C.double
	err := call(func() C.enum_DoppelStatus {
		return C.doppel_privacy_epsilon(C.int32_t(acct), C.double(samplingRate),
			C.double(noiseMultiplier), C.uint64_t(steps), C.double(delta), &out)
	})
	return float64(out), err
}

// PrivacyNoise is the smallest noise multiplier that keeps steps steps at samplingRate
// within (epsilon, delta); it inverts PrivacyEpsilon.
func PrivacyNoise(acct Accountant, epsilon, delta, samplingRate float64, steps uint64) (float64, error) {
	var out C.double
	err := call(func() C.enum_DoppelStatus {
		return C.doppel_privacy_noise(C.int32_t(acct), C.double(epsilon), C.double(delta),
			C.double(samplingRate), C.uint64_t(steps), &out)
	})
	return float64(out), err
}
