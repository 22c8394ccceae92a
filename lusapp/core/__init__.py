"""Qt-free domain model: labels, protocols, score scales, patients, clinical vector, errors."""
