"""The output columns of every feature backend, in order (the 16 JSC features sit at COLUMNS[4:20])."""

COLUMNS: tuple[str, ...] = (
    "j_pt", "j_eta", "j_phi", "j_mass",
    "j_zlogz", "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt", "j_c2_b2_mmdt",
    "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt", "j_m2_b1_mmdt", "j_m2_b2_mmdt",
    "j_n2_b1_mmdt", "j_n2_b2_mmdt", "j_mass_mmdt", "j_multiplicity",
    "j_pt_mmdt", "j_nconst_mmdt",
)
