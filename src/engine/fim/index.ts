export { completionIds, findFimTokens, isFimChoice, maxPieceChars } from './layout';
export type { FimChoice, FimTokens, FimWhere } from './layout';
export { FIM_TEMPLATES, FIM_TEMPLATE_NAMES, fimTemplate } from './templates';
export type { FimTemplate, FimTemplateName } from './templates';
