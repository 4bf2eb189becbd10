// Fill-in-the-middle prompt formats, one entry per model family, as each family's model card / tokenizer
// documents them (the one home for FIM token spellings). A template is picked from the model's vocabulary:
// the first whose marker tokens all exist (findFim in layout.ts), or named in the setting
// `idp.completion.fimTemplate` / the request.
//
//   psm: [BOS?] PRE prefix SUF suffix MID            → the model writes the middle
//   spm: [BOS?] SUF suffix PRE prefix (MID)          → Codestral: no middle marker
//   repo-level (where the family has one and the request names a repository and a file path):
//        REPO repo "\n" FILE path "\n" before the FIM markers (Qwen2.5-Coder; StarCoder2 without the newline
//        after the repository name).

export type FimTemplateName = 'starcoder' | 'qwen' | 'deepseek' | 'codellama' | 'codestral';
export const FIM_TEMPLATE_NAMES: readonly FimTemplateName[] = ['starcoder', 'qwen', 'deepseek', 'codellama', 'codestral'];

export interface FimTemplate {
  name: FimTemplateName;
  /** Who uses it (for messages and docs). */
  families: string;
  order: 'psm' | 'spm';
  /** Each marker's accepted spellings, first found wins (SentencePiece vocabularies may store a leading ▁). */
  prefix: string[];
  suffix: string[];
  middle?: string[];
  /** Repository-level markers, when the family was trained with them. */
  repo?: { name: string[]; file: string[]; newlineAfterName: boolean };
}

export const FIM_TEMPLATES: readonly FimTemplate[] = [
  {
    name: 'qwen', families: 'Qwen2.5-Coder, CodeGemma, IDP Lab\'s default model', order: 'psm',
    prefix: ['<|fim_prefix|>'], suffix: ['<|fim_suffix|>'], middle: ['<|fim_middle|>'],
    repo: { name: ['<|repo_name|>'], file: ['<|file_sep|>'], newlineAfterName: true },
  },
  {
    name: 'starcoder', families: 'StarCoder, StarCoder2, SantaCoder', order: 'psm',
    prefix: ['<fim_prefix>', '<fim-prefix>'], suffix: ['<fim_suffix>', '<fim-suffix>'], middle: ['<fim_middle>', '<fim-middle>'],
    repo: { name: ['<repo_name>'], file: ['<file_sep>'], newlineAfterName: false },
  },
  {
    name: 'deepseek', families: 'DeepSeek-Coder (1.x, V2)', order: 'psm',
    prefix: ['<｜fim▁begin｜>'], suffix: ['<｜fim▁hole｜>'], middle: ['<｜fim▁end｜>'],
  },
  {
    name: 'codellama', families: 'Code Llama', order: 'psm',
    prefix: ['▁<PRE>', '<PRE>'], suffix: ['▁<SUF>', '<SUF>'], middle: ['▁<MID>', '<MID>'],
  },
  {
    name: 'codestral', families: 'Codestral (Mistral v3 tokenizer)', order: 'spm',
    prefix: ['[PREFIX]'], suffix: ['[SUFFIX]'],
  },
];

export function fimTemplate(name: FimTemplateName): FimTemplate {
  return FIM_TEMPLATES.find((t) => t.name === name)!;
}
