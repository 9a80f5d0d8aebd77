package dev.doppel;

/** The differential-privacy accountant of the privacy calculator ({@code DoppelAccountant}). */
public enum Accountant {
    /** Privacy random variables (Gopi, Lee, Wutschitz 2021): tight, with an error bound. */
    PRV(0),
    /** Rényi DP of the subsampled Gaussian (Mironov, Talwar, Zhang 2019). */
    RDP(1);

    private final int code;

    Accountant(int code) {
        this.code = code;
    }

    /**
     * The numeric value of {@code DoppelAccountant}.
     *
     * @return the code passed to the library
     */
    public int code() {
        return code;
    }
}
