// Unit tests run without a Django page: install the vocabulary the server serves in its boot
// JSON. served-vocabulary.json is checked against apps/reading/rules.py client_vocabulary() by
// tests/web/test_vocabulary.py, so a test here sees exactly what the browser is given.
import { installVocabulary, type Vocabulary } from "../annotate/vocabulary";
import served from "./served-vocabulary.json";

installVocabulary(served as Vocabulary);
